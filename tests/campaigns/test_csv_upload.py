"""Multiple push files: streamed checks with line numbers; a bad file creates nothing."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from campaigns.codes import PushError
from campaigns.models import Message, PushTask, SendUpload, SendUploadRow, TaskStatus
from campaigns.sends import csvingest, services
from campaigns.sends.services import SendSpec
from console.models import AuditEntry, UserProfile
from tests.campaigns import send_fixtures as sf
from tests.factories_campaigns import MessageFactory

template = sf.template
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(app, template, marketer, data: bytes, name="file.csv"):
    spec = SendSpec(push_type="MULTIPLE", target_type="android_device", template_version=template.current_version)
    up = services.upload_create(app=app, file=SimpleUploadedFile(name, data), spec=spec, actor=marketer)
    return services.upload_validate(upload_id=up.pk)


def good(n, start=1):
    return "".join(f"dev{i},cm{i},name=N{i},code={i}\n" for i in range(start, start + n))


def errors(up):
    return [(e["line"], e["reason"]) for e in up.errors]


def test_bom_and_crlf_are_accepted_and_ten_are_previewed(app, template, marketer):
    data = "\ufeff".encode() + good(12).replace("\n", "\r\n").encode()
    up = upload(app, template, marketer, data)
    assert up.status == "valid" and up.good_count == 12 and up.bad_count == 0 and up.line_count == 12
    assert len(up.preview) == 10
    assert up.preview[0] == {
        "line": 1,
        "target_id": "dev1",
        "customer_msg_id": "cm1",
        "title": "Hi N1",
        "body": "Your code is 1",
        "url": "",
    }
    assert SendUploadRow.objects.filter(upload=up).count() == 12
    assert Message.objects.count() == 0  # nothing is sent before confirmation


def _bad_file(line3: bytes) -> bytes:
    return good(2).encode() + line3 + b"\n" + good(2, start=10).encode()


@pytest.mark.parametrize(
    ("line3", "reason"),
    [
        (("d3,cm3,name=" + "x" * 232 + ",code=1").encode(), "line is 251 characters; the limit is 250"),
        (b"d3,,name=a,code=b", "customerMsgId is missing"),
        (b"d3", "customerMsgId is missing; missing values for: code, name"),  # every reason
        (("d3," + "c" * 65 + ",name=a,code=b").encode(), "customerMsgId is longer than 64 characters"),
        (b"d3,cm3,name=a,code", "'code' is not key=value; missing values for: code"),
        (b"d3,cm3,name=a", "missing values for: code"),
        (b"", "empty line"),
        (b"d3,cm1,name=a,code=b", "customerMsgId is a duplicate of line 1"),
    ],
)
def test_bad_line_is_reported_with_its_number_and_nothing_is_sent(app, template, marketer, line3, reason):
    up = upload(app, template, marketer, _bad_file(line3))
    assert up.status == "partial"  # sendable only on the explicit choice to skip the bad line
    assert errors(up) == [(3, reason)]
    assert up.bad_count == 1 and up.good_count == 4
    assert Message.objects.count() == 0 and PushTask.objects.count() == 0
    staged = sorted(SendUploadRow.objects.values_list("line_no", flat=True))
    assert staged == [1, 2, 4, 5]  # only the good lines wait, the bad or duplicate one is not among them
    report = up.report.open("rb").read().decode()
    assert report.startswith("Line,Reasons\n3,")


def test_gbk_file_is_refused_with_the_line_where_it_breaks(app, template, marketer):
    data = good(4).encode() + "d5,cm5,name=张三,code=1\n".encode("gbk") + good(2, start=6).encode()
    up = upload(app, template, marketer, data)
    assert up.status == "invalid" and "line 5" in up.failure and "UTF-8" in up.failure
    assert SendUploadRow.objects.count() == 0 and Message.objects.count() == 0


def test_customer_msg_id_already_used_by_the_app_is_reported(app, template, marketer):
    services.send_submit(
        app=app,
        spec=SendSpec(push_type="SIMPLE", target_type="user", targets=[("u", "cm2")], title="t", body="b"),
        source="console",
        actor=marketer,
    )
    up = upload(app, template, marketer, good(3).encode())
    assert errors(up) == [(2, "customerMsgId is already used by an earlier send")]


def test_all_bad_lines_go_to_the_report_and_the_first_100_to_the_page(app, template, marketer):
    lines = []
    for i in range(1, 301):
        lines.append(f"d{i},c{i},name=a,code=b" if i % 2 else f"d{i},c{i},name=a")
    up = upload(app, template, marketer, "\n".join(lines).encode())
    assert up.bad_count == 150
    assert len(up.errors) == 100 and up.errors[0]["line"] == 2 and up.errors[-1]["line"] == 200
    report = up.report.open("rb").read().decode().splitlines()
    assert report[0] == "Line,Reasons"
    assert len(report) == 151 and report[-1].startswith("300,")


def test_confirm_creates_the_task_and_the_worker_function_ingests_the_messages(
    app, template, marketer, django_capture_on_commit_callbacks
):
    up = upload(app, template, marketer, good(25).encode())
    task, created = services.upload_confirm(app=app, upload_id=up.pk, actor=marketer, idempotency_key="console:t1")
    assert created and task.status == TaskStatus.INGESTING and task.total_rows == 25
    again, created = services.upload_confirm(app=app, upload_id=up.pk, actor=marketer, idempotency_key="console:t1")
    assert again.pk == task.pk and not created
    task = services.upload_ingest_messages(task_id=task.pk)
    assert task.status == TaskStatus.QUEUED and task.ingested_rows == 25
    msgs = Message.objects.filter(task=task).order_by("id")
    assert msgs.count() == 25 and msgs[0].title == "Hi N1" and msgs[0].target_type == "android_device"
    assert msgs[0].payload["android_channel"] == "auto" and msgs[0].payload["extras"] == {}
    assert SendUploadRow.objects.count() == 0
    assert SendUpload.objects.get(pk=up.pk).status == "used"


def test_an_invalid_file_cannot_be_confirmed(app, template, marketer):
    up = upload(app, template, marketer, b"d1,c1,name=a\n")
    from campaigns.codes import PushError

    with pytest.raises(PushError):
        services.upload_confirm(app=app, upload_id=up.pk, actor=marketer)
    assert PushTask.objects.count() == 0


def test_lines_are_read_in_chunks_not_whole():
    stream = io.BytesIO(b"\xef\xbb\xbfa,b\r\nc,d\ne")
    lines = list(csvingest.iter_lines(stream, chunk_size=3))
    assert [(n, raw) for n, raw, _ in lines] == [(1, b"a,b"), (2, b"c,d"), (3, b"e")]


@pytest.mark.parametrize(
    ("title", "body"),
    [("Hi #name#", "{braces} #code# \\ tab\there"), ("#1# and #name#", "#code##code#"), ("No placeholders", "#x")],
)
def test_line_rendering_matches_the_shared_renderer(title, body):
    from templates_app.rendering import placeholders, render_message

    names = frozenset(placeholders(title, body))
    tpl = csvingest.Template(title, body, "", names)
    values = {n: f"v{n}" for n in names}
    line = "t,c," + ",".join(f"{k}={v}" for k, v in values.items())
    row = csvingest.check_line(1, line.rstrip(","), tpl)
    expected = render_message(title=title, body=body, values=values)
    assert (row.title, row.body) == (expected.title, expected.body)


@pytest.mark.django_db(transaction=True)
def test_a_big_file_is_ingested_over_several_connections_at_once(app, template, marketer, settings, monkeypatch):
    settings.PUSHDECK_INGEST_CONNECTIONS = 3
    monkeypatch.setattr(csvingest, "PARALLEL_MIN_ROWS", 10)
    calls = []
    real_insert = csvingest._insert_range

    def spy(sql, params, task_id):
        connection.ensure_connection()
        progress = PushTask.objects.get(pk=task_id).ingested_rows  # what the progress bar shows now
        calls.append((threading.current_thread().name, connection.connection.info.backend_pid, progress))
        return real_insert(sql, params, task_id)

    monkeypatch.setattr(csvingest, "_insert_range", spy)
    up = upload(app, template, marketer, good(300).encode())
    task, _ = services.upload_confirm(app=app, upload_id=up.pk, actor=marketer)
    task = services.upload_ingest_messages(task_id=task.pk)
    assert task.status == TaskStatus.QUEUED and task.ingested_rows == 300
    connection.ensure_connection()
    assert len(calls) == 3 * csvingest.RANGES_PER_CONNECTION
    assert len({name for name, _, _ in calls}) == 3  # three connections at once, each on its own thread
    assert connection.connection.info.backend_pid not in {pid for _, pid, _ in calls}
    assert max(p for _, _, p in calls) > 0  # progress grew as ranges committed
    msgs = Message.objects.filter(task=task)
    assert sorted(msgs.values_list("customer_msg_id", flat=True)) == sorted(f"cm{i}" for i in range(1, 301))
    assert msgs.get(customer_msg_id="cm300").title == "Hi N300"
    assert SendUploadRow.objects.count() == 0


@pytest.mark.parametrize("parallel", [True, False])
@pytest.mark.django_db(transaction=True)
def test_an_id_taken_after_the_check_fails_the_task_and_creates_nothing(
    app, template, marketer, settings, monkeypatch, client_for, parallel
):
    settings.PUSHDECK_INGEST_CONNECTIONS = 2 if parallel else 1
    monkeypatch.setattr(csvingest, "PARALLEL_MIN_ROWS", 10)
    up = upload(app, template, marketer, good(200).encode())
    task, _ = services.upload_confirm(app=app, upload_id=up.pk, actor=marketer)
    other = MessageFactory(app=app, customer_msg_id="cm150")  # another send, after the check
    task = services.upload_ingest_messages(task_id=task.pk)
    assert task.status == TaskStatus.FAILED and "customerMsgId" in task.status_reason
    assert not Message.objects.filter(task=task).exists()
    assert list(Message.objects.filter(app=app)) == [other]
    assert SendUploadRow.objects.count() == 0
    page = client_for(marketer).get(reverse("campaigns:send-task", args=[app.app_key, task.pk])).content.decode()
    assert "was used by another send after the file was checked" in page


def test_a_file_with_bad_lines_is_sent_without_them_only_when_the_marketer_says_so(app, template, marketer, client_for):
    services.send_submit(
        app=app,
        spec=SendSpec(push_type="SIMPLE", target_type="user", targets=[("u", "cm4")], title="t", body="b"),
        source="console",
        actor=marketer,
    )
    data = good(5).encode() + b"d6,cm6,name=a\n" + b"d7,cm2,name=a,code=7\n" + good(1, start=8).encode()
    up = upload(app, template, marketer, data)
    assert up.status == "partial" and up.good_count == 5 and up.bad_count == 3
    assert [e["line"] for e in up.errors] == [4, 6, 7]  # already used, missing value, duplicate of line 2
    c = client_for(marketer)
    url = reverse("campaigns:send-upload", args=[app.app_key, up.pk])
    page = c.get(url).content.decode()
    assert 'name="skip_bad"' in page and "3 bad lines will not be sent." in page
    confirm = reverse("campaigns:send-upload-confirm", args=[app.app_key, up.pk])
    response = c.post(confirm, {"idempotency_token": "t-partial"}, follow=True)
    assert "fix it, or confirm sending its 5 good lines without them" in response.content.decode()
    assert PushTask.objects.filter(push_type="MULTIPLE").count() == 0
    response = c.post(confirm, {"idempotency_token": "t-partial", "skip_bad": "on"})
    task = PushTask.objects.get(push_type="MULTIPLE")
    assert response.status_code == 302 and task.total_rows == 5
    task = services.upload_ingest_messages(task_id=task.pk)
    sent = sorted(Message.objects.filter(task=task).values_list("customer_msg_id", flat=True))
    assert sent == ["cm1", "cm2", "cm3", "cm5", "cm8"]
    entry = AuditEntry.objects.get(action="send.submit", target=f"task {task.pk}")
    assert entry.summary["bad_lines_skipped"] == 3 and entry.summary["messages"] == 5


def test_a_checked_file_not_sent_within_a_day_expires(app, template, marketer, client_for):
    from campaigns.retention import uploads_expire

    fresh = upload(app, template, marketer, good(3).encode())
    stale = upload(app, template, marketer, good(3, start=10).encode())
    SendUpload.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=1, minutes=1))
    assert uploads_expire() == 1
    assert SendUpload.objects.get(pk=stale.pk).status == "expired"
    assert SendUpload.objects.get(pk=fresh.pk).status == "valid"
    assert sorted(SendUploadRow.objects.values_list("upload_id", flat=True).distinct()) == [fresh.pk]
    page = client_for(marketer).get(reverse("campaigns:send-upload", args=[app.app_key, stale.pk]))
    assert "was cleared" in page.content.decode() and 'data-testid="upload-send"' not in page.content.decode()
    with pytest.raises(PushError):
        services.upload_confirm(app=app, upload_id=stale.pk, actor=marketer)


def test_bad_line_reasons_are_in_the_uploaders_language(app, template, marketer):
    UserProfile.objects.update_or_create(user=marketer, defaults={"language": "zh-hans"})
    up = upload(app, template, marketer, good(2).encode() + b"d3,cm1,name=a,code=b\nd4,cm4,name=a\n")
    assert errors(up) == [(3, "customerMsgId 与第 1 行重复"), (4, "缺少以下占位符的值：code")]
    assert up.report.open("rb").read().decode().splitlines() == [
        "行号,原因",
        "3,customerMsgId 与第 1 行重复",
        "4,缺少以下占位符的值：code",
    ]
    gbk = upload(app, template, marketer, good(1).encode() + "d2,cm2,name=张三,code=1\n".encode("gbk"))
    assert gbk.failure == "文件不是 UTF-8 编码：第 2 行无法解码。请另存为 UTF-8 后重新上传。"


def test_a_bad_line_shows_every_reason_the_duplicate_first(app, template, marketer):
    data = good(2).encode() + b"d3,cm1,name=a\n,cm4,name=a,code,x=1,x=2\nd5,cm4,code=1\n"
    up = upload(app, template, marketer, data)
    assert errors(up) == [
        (3, "customerMsgId is a duplicate of line 1; missing values for: code"),
        (4, "targetId is missing; 'code' is not key=value; key 'x' is given twice; missing values for: code"),
        (5, "customerMsgId is a duplicate of line 4; missing values for: name"),
    ]
    assert up.good_count == 2 and up.bad_count == 3
