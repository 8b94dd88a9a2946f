import csv
import io
import tracemalloc
from datetime import timedelta
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from campaigns.models import Message
from console.models import AuditEntry
from tests.factories_campaigns import MessageFactory, PushTaskFactory

pytestmark = pytest.mark.django_db


def _url(app):
    return reverse("campaigns:exports", kwargs={"app_key": app.app_key})


def _params(kind, fmt, days_back=1):
    today = timezone.localdate()
    return {
        "kind": kind,
        "file_format": fmt,
        "date_from": (today - timedelta(days=days_back)).isoformat(),
        "date_to": today.isoformat(),
    }


def test_auditor_exports_message_history_as_csv_and_excel_audited_no_secrets(app, auditor, client_for):
    MessageFactory(app=app, customer_msg_id="cm-export", title="=HYPERLINK(evil)", status=2)
    MessageFactory(app=app, customer_msg_id="too-old", created_at=timezone.now() - timedelta(days=10))
    c = client_for(auditor)
    response = c.get(_url(app), _params("messages", "csv"))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["Message id", "Customer message id"]
    assert [r[1] for r in rows[1:]] == ["cm-export"]
    assert rows[1][8] == "'=HYPERLINK(evil)"  # no formula injection
    assert "Acknowledged" in rows[1][11]
    assert "+00:00" in rows[1][13]  # ISO 8601 with offset
    assert app.app_secret not in text
    response = c.get(_url(app), _params("messages", "xlsx"))
    sheet = load_workbook(BytesIO(b"".join(response.streaming_content))).active
    assert sheet.cell(2, 2).value == "cm-export"
    assert AuditEntry.objects.filter(action="messages.export", actor=auditor).count() == 2


def test_task_list_export(app, channel_admin, client_for):
    PushTaskFactory(app=app, name="Exported task", pushed=5, succeeded=4)
    response = client_for(channel_admin).get(_url(app), _params("tasks", "csv"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][1] == "Exported task" and rows[1][8] == "5" and rows[1][9] == "4"
    assert AuditEntry.objects.filter(action="tasks.export").exists()


def test_marketer_may_not_export(app, marketer, client_for):
    response = client_for(marketer).get(_url(app), _params("messages", "csv"))
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="messages.export").exists()


def test_bad_export_input_is_explained_and_not_audited(app, auditor, client_for):
    params = _params("messages", "csv")
    params["date_from"], params["date_to"] = params["date_to"], params["date_from"]
    response = client_for(auditor).get(_url(app), params)
    assert response.status_code == 200
    assert "must not be before the start date" in response.content.decode()
    bad = client_for(auditor).get(_url(app), {"kind": "secrets", "file_format": "pdf", "date_from": "x"})
    assert set(bad.context["form"].errors) >= {"kind", "file_format", "date_from", "date_to"}
    assert not AuditEntry.objects.filter(action__endswith=".export").exists()


def _bulk_messages(app, n):
    task = PushTaskFactory(app=app, push_type="MULTIPLE")
    now = timezone.now()
    batch = []
    for i in range(n):
        at = now - timedelta(seconds=i)
        batch.append(
            Message(
                app=app,
                task=task,
                customer_msg_id=f"bulk-{i:07d}",
                push_type="MULTIPLE",
                target_type="user",
                target_id=f"user-{i}",
                platform="android",
                title="Weekly digest for you",
                created_at=at,
                expires_at=at + timedelta(seconds=180),
                state="accepted",
                status=2,
                channel="huawei",
            )  # fmt: skip
        )
        if len(batch) == 5000:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_of_100000_rows_streams_with_bounded_memory(app, auditor, client_for, fmt):
    _bulk_messages(app, 100_000)
    c = client_for(auditor)
    tracemalloc.start()
    try:
        # The rows go back 28 hours from now: two days back covers them at any time of day.
        response = c.get(_url(app), _params("messages", fmt, days_back=2))
        size = rows = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            if fmt == "csv":
                rows += chunk.count(b"\n")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if fmt == "csv":
        assert rows == 100_001
        assert size > 15_000_000
    # The whole file is never held: peak Python memory stays far below the output size.
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB for {size / 1e6:.1f} MB of {fmt}"
    if fmt == "xlsx":
        assert size > 2_000_000
