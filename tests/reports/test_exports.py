import csv
import io
import tracemalloc
from datetime import timedelta
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from console import exports
from console.models import AuditEntry
from tests.factories_campaigns import MessageFactory, PushTaskFactory, insert_messages

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


def test_an_excel_export_longer_than_a_sheet_goes_on_in_further_sheets(app, auditor, client_for, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_SHEET_ROWS", 4)  # Excel's 1,048,576, made small
    for i in range(7):
        MessageFactory(app=app, customer_msg_id=f"cm-{i}")
    response = client_for(auditor).get(_url(app), _params("messages", "xlsx"))
    book = load_workbook(BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["messages", "messages (2)", "messages (3)"]
    sheets = [list(book[name].iter_rows(values_only=True)) for name in book.sheetnames]
    assert [len(rows) for rows in sheets] == [4, 4, 2]  # each starts with the header
    assert all(rows[0][:2] == ("Message id", "Customer message id") for rows in sheets)
    ids = sorted(row[1] for rows in sheets for row in rows[1:])
    assert ids == [f"cm-{i}" for i in range(7)]  # every row once


def test_an_empty_excel_export_is_the_header_alone(app, auditor, client_for):
    response = client_for(auditor).get(_url(app), _params("messages", "xlsx"))
    book = load_workbook(BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["messages"]
    assert [row[:2] for row in book.active.iter_rows(values_only=True)] == [("Message id", "Customer message id")]


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


def _bulk_messages(task, first, last):
    """Accepted user-target messages, number n sent n seconds ago."""
    insert_messages(
        task,
        first,
        last,
        target_type="'user'",
        target_id="'user-' || g",
        platform="'android'",
        title="'Weekly digest for you'",
        created_at="now() - g * interval '1 second'",
        expires_at="now() - g * interval '1 second' + interval '180 seconds'",
        state="'accepted'",
        status="2",
        channel="'huawei'",
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_memory_stays_flat_as_the_rows_grow(app, auditor, client_for, fmt):
    task = PushTaskFactory(app=app, push_type="MULTIPLE")
    c = client_for(auditor)

    def export():
        tracemalloc.start()
        try:
            response = c.get(_url(app), _params("messages", fmt))
            size = rows = 0
            for chunk in response.streaming_content:
                size += len(chunk)
                rows += chunk.count(b"\n")
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return size, rows, peak

    export()  # the first run of a view imports and caches what later runs reuse
    _bulk_messages(task, 1, 5_000)
    small_size, small_rows, small_peak = export()
    _bulk_messages(task, 5_001, 20_000)
    size, rows, peak = export()
    if fmt == "csv":
        assert (small_rows, rows) == (5_001, 20_001)
    assert size > 3 * small_size
    # 15,000 more rows (3 MB more CSV, 210,000 more cells) and the peak grows by less than 1 MB:
    # the rows are streamed from a server-side cursor and never held together.
    assert peak - small_peak < 1_000_000, f"peak {small_peak / 1e6:.1f} MB, then {peak / 1e6:.1f} MB"
