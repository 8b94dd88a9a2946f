"""The console send forms: every rule with its message, preview, idempotency, approval, schedule, stop."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns.delivery.tasks import deliver_task_stop
from campaigns.models import Message, MessageState, PushTask, SendUpload, TaskStatus
from campaigns.sends import services
from console.models import AuditEntry, Role, UserProfile
from tests.campaigns import send_fixtures as sf
from tests.campaigns.send_fixtures import make_device
from tests.factories import MembershipFactory, UserFactory

template = sf.template
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def simple_data(**over):
    data = {
        "target_type": "android_device",
        "targets": "dev-1",
        "customer_msg_id": "c-1",
        "channel": "auto",
        "display_type": "notification",
        "display_style": "default",
        "title": "Hello",
        "body": "World",
        "click_action": "open_app",
        "url": "",
        "expire_seconds": "180",
        "extras": "",
        "send_at": "",
        "name": "",
        "idempotency_token": "tok-1",
        "action": "submit",
    }
    data.update(over)
    return data


def url(app, name, **kw):
    from django.urls import reverse

    return reverse(f"campaigns:{name}", kwargs={"app_key": app.app_key, **kw})


def test_form_defaults_generate_customer_msg_id_and_valid_period(app, marketer, client_for):
    page = client_for(marketer).get(url(app, "send-simple")).content.decode()
    assert 'name="customer_msg_id"' in page and 'value="pd' in page
    assert 'name="expire_seconds"' in page and 'value="180"' in page
    assert 'name="idempotency_token"' in page


def test_preview_shows_notification_and_both_payloads_before_submit(app, marketer, client_for):
    response = client_for(marketer).post(
        url(app, "send-simple"),
        simple_data(
            action="preview", extras="sound=ding\nbadge=3", click_action="open_url", url="https://example.com/p"
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200 and PushTask.objects.count() == 0
    assert "iOS payload" in page and "Android payload" in page
    assert "&quot;aps&quot;" in page and "&quot;badge&quot;: 3" in page and "https://example.com/p" in page
    assert 'value="submit"' in page


def test_simple_submit_creates_task_and_double_submit_returns_the_same(app, marketer, client_for):
    c = client_for(marketer)
    first = c.post(url(app, "send-simple"), simple_data(targets="dev-1\ndev-2"))
    task = PushTask.objects.get()
    assert first.status_code == 302 and first["Location"] == url(app, "send-task", task_id=task.pk)
    assert sorted(task.messages.values_list("customer_msg_id", flat=True)) == ["c-1-1", "c-1-2"]
    assert task.status == TaskStatus.QUEUED and task.created_by == marketer and task.name.startswith("Console ")
    second = c.post(url(app, "send-simple"), simple_data(targets="dev-1\ndev-2"))
    assert second["Location"] == first["Location"] and PushTask.objects.count() == 1
    assert AuditEntry.objects.filter(action="send.submit", actor=marketer).count() == 1


def test_a_send_without_a_name_is_named_in_the_marketers_language_and_zone(app, marketer, client_for):
    UserProfile.objects.update_or_create(user=marketer, defaults={"language": "zh-hans", "timezone": "Asia/Shanghai"})
    before = timezone.now()
    client_for(marketer).post(url(app, "send-simple"), simple_data(targets="dev-1"))
    after = timezone.now()
    name = PushTask.objects.get().name
    assert name.startswith("控制台 ")
    stamp = datetime.strptime(name.split(" ")[1], "%Y%m%d%H%M%S").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    assert before - timedelta(seconds=1) <= stamp <= after  # the marketer's local time
    assert services.default_task_name(before, source="api").startswith("API ")


@pytest.mark.parametrize(
    ("over", "field", "text"),
    [
        ({"targets": "\n".join(f"d{i}" for i in range(11))}, "targets", "3029"),
        ({"extras": "taskId=1"}, "extras", "3044"),
        ({"extras": "badge_add_num=1"}, "extras", "3059"),
        ({"extras": "big_text=2"}, "extras", "big_text must be 1"),
        ({"extras": "\n".join(f"k{i}=v" for i in range(21))}, "extras", "3035"),
        ({"extras": "no equals sign"}, "extras", "key=value"),
        ({"expire_seconds": "259201"}, "expire_seconds", "259200"),
        ({"customer_msg_id": "x" * 65}, "customer_msg_id", "64"),
        ({"send_at": (timezone.now() + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M")}, "send_at", "7 days"),
        ({"title": "x" * 60}, None, "3043"),
    ],
)
def test_simple_form_rules(app, marketer, client_for, over, field, text):
    response = client_for(marketer).post(url(app, "send-simple"), simple_data(**over))
    assert response.status_code == 200
    form = response.context["form"]
    errors = " ".join(form.errors.get(field or "__all__", []))
    assert text in errors, form.errors
    assert PushTask.objects.count() == 0 and Message.objects.count() == 0


def test_customer_msg_id_must_be_unique(app, marketer, client_for):
    c = client_for(marketer)
    c.post(url(app, "send-simple"), simple_data())
    response = c.post(url(app, "send-simple"), simple_data(idempotency_token="tok-2"))
    assert "already used" in " ".join(response.context["form"].errors["customer_msg_id"])
    assert PushTask.objects.count() == 1


def template_data(**over):
    data = {
        "target_type": "user",
        "targets": "u1",
        "template": "",
        "values": "name=Ann\ncode=7",
        "customer_msg_id": "t-1",
        "channel": "auto",
        "expire_seconds": "180",
        "extras": "",
        "send_at": "",
        "name": "",
        "idempotency_token": "tt",
        "action": "submit",
    }
    data.update(over)
    return data


def test_template_form_lists_missing_keys_and_renders(app, marketer, client_for, template):
    c = client_for(marketer)
    bad = c.post(url(app, "send-template"), template_data(template=template.pk, values="name=Ann"))
    assert "3023" in " ".join(bad.context["form"].errors["values"]) and "code" in str(bad.context["form"].errors)
    ok = c.post(url(app, "send-template"), template_data(template=template.pk))
    assert ok.status_code == 302
    task = PushTask.objects.get()
    assert task.template_version == template.current_version
    assert task.messages.get().title == "Hi Ann"


def broadcast_data(template, **over):
    data = {
        "platform": "android",
        "target_kind": "all",
        "unbind_period": "1",
        "target_values": "",
        "tag_expression": "",
        "template": template.pk,
        "values": "name=A\ncode=B",
        "customer_msg_id": "b-1",
        "channel": "auto",
        "expire_seconds": "180",
        "extras": "",
        "send_at": "",
        "name": "",
        "idempotency_token": "bt",
        "action": "preview",
    }
    data.update(over)
    return data


def test_broadcast_android_self_built_to_logged_out_users_is_refused(app, marketer, client_for, template):
    response = client_for(marketer).post(
        url(app, "send-broadcast"), broadcast_data(template, channel="selfbuilt", unbind_period="3")
    )
    assert "3053" in " ".join(response.context["form"].errors["unbind_period"])


def test_broadcast_preview_shows_audience_size(app, marketer, client_for, template):
    make_device(app, "a1")
    make_device(app, "a2")
    make_device(app, "a3", logged_in=False, logged_out_at=timezone.now() - timedelta(days=3))
    make_device(app, "i1", "ios")
    response = client_for(marketer).post(url(app, "send-broadcast"), broadcast_data(template, unbind_period="2"))
    assert response.context["audience"] == 3
    assert "reaches 3 devices" in response.content.decode()


def test_broadcast_to_a_txt_file_of_accounts(app, marketer, client_for, template):
    make_device(app, "a1", account="acc-1")
    ids = SimpleUploadedFile("ids.txt", "\ufeffacc-1\r\nacc-2\n".encode())
    response = client_for(marketer).post(
        url(app, "send-broadcast"),
        {**broadcast_data(template, target_kind="account", action="submit"), "targets_file": ids},
    )
    assert response.status_code == 302
    task = PushTask.objects.get()
    assert task.params["target_values"] == ["acc-1", "acc-2"] and task.target_count == 1
    assert task.status == TaskStatus.AWAITING_APPROVAL


def test_auditor_gets_403_on_every_send_page(app, auditor, client_for, template):
    c = client_for(auditor)
    for name in ("send", "send-simple", "send-template", "send-broadcast", "send-multiple"):
        assert c.get(url(app, name)).status_code == 403
    assert c.post(url(app, "send-simple"), simple_data()).status_code == 403
    assert PushTask.objects.count() == 0


def test_approval_by_a_second_person_not_by_the_sender(app, marketer, channel_admin, client_for, template):
    app.approval_threshold = 1
    app.save()
    c = client_for(marketer)
    c.post(url(app, "send-simple"), simple_data(targets="d1\nd2"))
    task = PushTask.objects.get()
    assert task.status == TaskStatus.AWAITING_APPROVAL  # 2 targets > threshold 1
    c.post(url(app, "send-task-approve", task_id=task.pk))
    task.refresh_from_db()
    assert task.status == TaskStatus.AWAITING_APPROVAL and task.approved_by is None
    page = client_for(channel_admin).get(url(app, "send-task", task_id=task.pk)).content.decode()
    assert "Approve" in page and "Hello" in page
    client_for(channel_admin).post(url(app, "send-task-approve", task_id=task.pk))
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED and task.approved_by == channel_admin
    assert AuditEntry.objects.filter(action="send.approve", actor=channel_admin).exists()


def test_scheduled_send_uses_the_marketers_time_zone_and_can_be_cancelled(app, marketer, client_for):
    UserProfile.objects.filter(user=marketer).update(timezone="Asia/Shanghai")
    local = (timezone.now() + timedelta(days=1)).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    c = client_for(marketer)
    c.post(url(app, "send-simple"), simple_data(send_at=local.strftime("%Y-%m-%dT%H:%M")))
    task = PushTask.objects.get()
    assert task.status == TaskStatus.SCHEDULED
    assert abs((task.scheduled_at - local.replace(second=0, microsecond=0)).total_seconds()) < 1
    c.post(url(app, "send-task-cancel", task_id=task.pk))
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    deliver_task_stop(task.pk)  # what the request queued: a worker cancels the open messages
    assert set(task.messages.values_list("state", flat=True)) == {MessageState.CANCELLED}
    assert AuditEntry.objects.filter(action="send.cancel").exists()


def test_due_scheduled_sends_are_released(app, marketer, django_capture_on_commit_callbacks):
    spec = services.SendSpec(
        push_type="SIMPLE",
        target_type="user",
        targets=[("u", "s-1")],
        title="t",
        body="b",
        scheduled_at=timezone.now() + timedelta(hours=1),
    )
    task, _ = services.send_submit(app=app, spec=spec, source="console", actor=marketer)
    assert services.dispatch_due_sends(now=timezone.now()) == []
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.dispatch_due_sends(now=timezone.now() + timedelta(hours=2)) == [task.pk]
    assert len(callbacks) == 1
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED


def test_stop_running_send_cancels_the_rest(app, marketer, client_for):
    c = client_for(marketer)
    c.post(url(app, "send-simple"), simple_data(targets="d1\nd2\nd3"))
    task = PushTask.objects.get()
    PushTask.objects.filter(pk=task.pk).update(status=TaskStatus.RUNNING)
    Message.objects.filter(customer_msg_id="c-1-1").update(state=MessageState.ACCEPTED)
    c.post(url(app, "send-task-stop", task_id=task.pk))
    task.refresh_from_db()
    assert task.status == TaskStatus.STOPPED
    deliver_task_stop(task.pk)  # what the request queued: a worker cancels the open messages
    states = dict(task.messages.values_list("customer_msg_id", "state"))
    assert states == {"c-1-1": "accepted", "c-1-2": "cancelled", "c-1-3": "cancelled"}


def test_test_send_goes_only_to_test_devices(app, marketer, client_for):
    make_device(app, "tester", is_test_device=True)
    make_device(app, "customer")
    response = client_for(marketer).post(url(app, "send-simple"), simple_data(action="test", targets="customer"))
    assert response.status_code == 302
    task = PushTask.objects.get()
    assert list(task.messages.values_list("target_id", flat=True)) == ["tester"]
    assert task.params["test_send"] is True


def test_expired_apns_certificate_blocks_ios_sends_when_the_credentials_module_says_so(app, marketer, client_for):
    from campaigns.sends import rules

    reason = rules.ios_block_reason(app)
    response = client_for(marketer).post(url(app, "send-simple"), simple_data(target_type="ios_device"))
    if reason:
        assert reason in str(response.context["form"].errors)
    else:
        assert response.status_code == 302


def test_multiple_upload_over_the_limit_is_refused_while_streaming(app, marketer, client_for, template, settings):
    settings.PUSHDECK_MULTIPLE_FILE_MAX_BYTES = 1000
    data = ("d,c,name=a,code=b\n" * 200).encode()
    response = client_for(marketer).post(
        url(app, "send-multiple"),
        {
            "template": template.pk,
            "target_type": "user",
            "channel": "auto",
            "expire_seconds": "180",
            "file": SimpleUploadedFile("big.csv", data),
        },
    )
    assert response.status_code == 200
    assert "larger than" in " ".join(response.context["form"].errors["file"])
    assert SendUpload.objects.count() == 0 and PushTask.objects.count() == 0


def test_multiple_upload_page_shows_progress_errors_and_preview(
    app, marketer, client_for, template, django_capture_on_commit_callbacks
):
    c = client_for(marketer)
    data = "".join(f"d{i},c{i},name=N{i},code={i}\n" for i in range(12)).encode()
    response = c.post(
        url(app, "send-multiple"),
        {
            "template": template.pk,
            "target_type": "user",
            "channel": "auto",
            "expire_seconds": "180",
            "file": SimpleUploadedFile("ok.csv", data),
        },
    )
    upload = SendUpload.objects.get()
    assert response["Location"] == url(app, "send-upload", upload_id=upload.pk)
    page = c.get(response["Location"]).content.decode()
    assert "hx-get" in page and 'value="0"' in page  # still waiting for the worker
    services.upload_validate(upload_id=upload.pk)
    fragment = c.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert "hx-get" not in fragment and 'value="100"' in fragment
    assert fragment.count("<tr><td>") == 10 and "Hi N0" in fragment and "Send 12 messages" in fragment
    confirm = c.post(url(app, "send-upload-confirm", upload_id=upload.pk), {"idempotency_token": "x"})
    task = PushTask.objects.get()
    assert confirm["Location"] == url(app, "send-task", task_id=task.pk)


def test_api_reference_page_is_rendered_from_the_document(app, auditor, client_for):
    page = client_for(auditor).get(url(app, "send-api-docs")).content.decode()
    assert "POST /api/v1/push/broadcast" in page and "unBindPeriod" in page and "X-Pushdeck-Signature" in page


def test_outsider_cannot_see_a_task(app, outsider, marketer, client_for):
    spec = services.SendSpec(push_type="SIMPLE", target_type="user", targets=[("u", "o-1")], title="t", body="b")
    task, _ = services.send_submit(app=app, spec=spec, source="console", actor=marketer)
    assert client_for(outsider).get(url(app, "send-task", task_id=task.pk)).status_code == 404
    other_member = MembershipFactory(role=Role.MARKETER, user=UserFactory(username="x_other")).user
    assert client_for(other_member).get(url(app, "send-task", task_id=task.pk)).status_code == 404


def test_continuous_push_from_the_console(app, marketer, client_for):
    c = client_for(marketer)
    created = c.post(
        url(app, "send-continuous"),
        {
            "display_type": "notification",
            "title": "T",
            "body": "B",
            "channel": "auto",
            "expire_seconds": "180",
            "extras": "",
            "name": "",
            "idempotency_token": "ct",
        },
    )
    task = PushTask.objects.get()
    assert created["Location"] == url(app, "send-task", task_id=task.pk) and task.status == TaskStatus.DRAFT
    assert "Push this batch" in c.get(created["Location"]).content.decode()
    c.post(
        url(app, "send-task-batch", task_id=task.pk),
        {"target_kind": "device", "target_values": "d1\nd2", "idempotency_token": "b1"},
    )
    c.post(
        url(app, "send-task-batch", task_id=task.pk),
        {"target_kind": "device", "target_values": "d1\nd2", "idempotency_token": "b1"},
    )
    c.post(
        url(app, "send-task-batch", task_id=task.pk),
        {"target_kind": "account", "target_values": "acc", "idempotency_token": "b2"},
    )
    task.refresh_from_db()
    assert task.params["batches"] == 2 and task.messages.count() == 3 and task.status == TaskStatus.QUEUED
    too_many = c.post(
        url(app, "send-task-batch", task_id=task.pk),
        {"target_kind": "alias", "target_values": "\n".join(str(i) for i in range(1001))},
        follow=True,
    )
    assert "3055" in too_many.content.decode() and task.messages.count() == 3
