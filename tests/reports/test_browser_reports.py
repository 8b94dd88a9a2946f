"""Headless Chromium: every report page, row expansion, chart mode switch, Excel download."""

from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from tests.factories_campaigns import (
    DeliveryFactory,
    DeviceFactory,
    MessageFactory,
    PushTaskFactory,
    ReceiptEventFactory,
    StatusEventFactory,
    UsageRollupFactory,
    UserBindingFactory,
)

# Screenshots a person can look at after the run (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_report_pages_row_expansion_chart_switch_and_excel_download(page, login, channel_admin, app):
    now = timezone.now()
    device = DeviceFactory(app=app, device_id="browser-dev-1")
    UserBindingFactory(device=device, user_id="browser-user")
    message = MessageFactory(app=app, customer_msg_id="browser-cm-1", title="Browser hello", status=2, state="accepted")
    delivery = DeliveryFactory(message=message, device=device, gateway_code=80000003, state="accepted", accepted_at=now)
    StatusEventFactory(message=message, delivery=delivery, state="accepted", status=2, channel="huawei")
    ReceiptEventFactory(message=message, device=device, event="arrive")
    PushTaskFactory(
        app=app, name="Running broadcast", push_type="BROADCAST", status="running", target_count=10, pushed=4
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    UsageRollupFactory(app=app, bucket=hour, channel="selfbuilt", pushed=10, arrived=8, opened=4, ignored=2)
    UsageRollupFactory(app=app, bucket=hour - timedelta(days=1), channel="huawei", pushed=6, arrived=3, opened=1)

    csp_errors = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    login(channel_admin)
    base = f"/apps/{app.app_key}/"

    page.goto(base + "messages/")
    page.get_by_role("link", name="Message list").wait_for()
    row = page.get_by_test_id("message-row").filter(has_text="browser-cm-1")
    row.get_by_role("button", name="Details").click()
    detail = page.get_by_test_id("message-detail")
    detail.wait_for()
    assert str(message.pk) in detail.inner_text()
    assert "80000003" in detail.inner_text() and "terminal not online" in detail.inner_text()

    page.goto(base + "tasks/")
    task_row = page.get_by_test_id("task-row").filter(has_text="Running broadcast")
    assert "40%" in task_row.get_by_test_id("progress").inner_text()

    page.goto(base + "devices/?user_id=browser-user")
    assert "browser-dev-1" in page.get_by_test_id("device-report").inner_text()
    page.goto(base + "push-records/")
    assert page.get_by_test_id("record-row").count() >= 1
    page.goto(base + "receipts/")
    assert "browser-cm-1" in page.get_by_test_id("receipt-row").first.inner_text()
    page.goto(base + "troubleshoot/")
    page.get_by_label("Message id").fill("browser-cm-1")
    page.get_by_role("button", name="Diagnose").click()
    page.get_by_test_id("finding").first.wait_for()

    page.get_by_role("link", name="Usage analysis").click()
    # Locator waits, not wait_for_function: the CSP forbids the eval its polling uses.
    page.locator("#usage-chart[data-ready]").wait_for(state="attached")
    assert page.evaluate("window.Pushdeck.usageChart.data.datasets[0].label") == "Pushed"
    page.get_by_label("By rate").check()
    page.locator("#usage-chart[data-mode=rate]").wait_for(state="attached")
    assert page.evaluate("window.Pushdeck.usageChart.data.datasets[0].label") == "Arrival rate (%)"
    rates = page.evaluate("window.Pushdeck.usageChart.data.datasets[1].data")
    assert 50.0 in rates  # open rate 4/8 on today's bucket
    page.get_by_label("By count").check()
    page.locator("#usage-chart[data-mode=count]").wait_for(state="attached")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "analysis.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_test_id("analysis-export").click()
    assert info.value.suggested_filename == f"usage-{app.app_key}.xlsx"
    sheet = load_workbook(BytesIO(Path(info.value.path()).read_bytes())).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["Time", "Pushed", "Arrived"]
    assert sum(r[1] for r in rows[1:]) == 16
    table_text = page.get_by_test_id("usage-table").inner_text()
    for r in rows[1:]:
        assert r[0] in table_text

    page.goto(base + "exports/")
    page.get_by_label("What").select_option("messages")
    page.get_by_label("From").fill((timezone.localdate() - timedelta(days=1)).isoformat())
    page.get_by_label("To (inclusive)").fill(timezone.localdate().isoformat())
    page.get_by_label("Format").select_option("xlsx")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    assert info.value.suggested_filename.endswith(".xlsx")
    exported = load_workbook(BytesIO(Path(info.value.path()).read_bytes())).active
    assert exported.cell(2, 2).value == "browser-cm-1"
    assert csp_errors == []
