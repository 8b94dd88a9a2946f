"""Headless Chromium runs each of the four sends; a real Celery worker checks and ingests the file."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from campaigns.models import Message, PushTask, TaskStatus
from console.celery import app as celery_app
from tests.campaigns.send_fixtures import make_device, make_template


def _preview_then_send(page):
    page.get_by_role("button", name="Preview").click()
    page.get_by_test_id("ios-payload").wait_for()
    assert '"aps"' in page.get_by_test_id("ios-payload").inner_text()
    assert '"data"' in page.get_by_test_id("android-payload").inner_text()
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_test_id("task-status").wait_for()


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_marketer_runs_the_four_sends(page, login, app, marketer, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    make_template(app, "promo")
    make_device(app, "a1")
    make_device(app, "a2")
    base = f"/apps/{app.app_key}/send"
    login(marketer)

    # Simple push.
    page.goto(f"{base}/simple/")
    page.locator("[name=targets]").fill("a1\na2")
    page.get_by_label("Title").fill("Hello")
    page.get_by_label("Body").fill("From the browser")
    _preview_then_send(page)
    assert page.get_by_test_id("task-status").inner_text() == "Queued"
    assert Message.objects.filter(task__push_type="SIMPLE").count() == 2

    # Template push.
    page.goto(f"{base}/template/")
    page.locator("[name=targets]").fill("user-1")
    page.get_by_label("Template").select_option(label="promo")
    page.get_by_label("Placeholder values").fill("name=Ann\ncode=9")
    _preview_then_send(page)
    assert Message.objects.get(task__push_type="TEMPLATE").title == "Hi Ann"

    # Broadcast push: the audience size is shown before submit; it waits for approval.
    page.goto(f"{base}/broadcast/")
    page.get_by_label("Template").select_option(label="promo")
    page.get_by_label("Placeholder values").fill("name=All\ncode=1")
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("The send reaches 2 devices now.").wait_for()
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_test_id("task-status").wait_for()
    assert page.get_by_test_id("task-status").inner_text() == "Awaiting approval"

    # Multiple push, checked and ingested by a real worker through the broker.
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "".join(f"d{i},m{i},name=N{i},code={i}\n" for i in range(1, 16)) + "d16,,name=x,code=y\nd17,m1,name=a,code=b\n"
    )
    good = tmp_path / "good.csv"
    good.write_bytes("\ufeff".encode() + "".join(f"d{i},g{i},name=G{i},code={i}\r\n" for i in range(1, 13)).encode())
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["ingest", "default"]
    ):
        page.goto(f"{base}/multiple/")
        page.get_by_label("Template").select_option(label="promo")
        page.get_by_label("File").set_input_files(str(bad))
        page.get_by_role("button", name="Upload and check").click()
        page.get_by_test_id("bad-lines").wait_for(timeout=30_000)
        assert page.get_by_test_id("upload-percent").inner_text() == "100%"
        rows = page.get_by_test_id("bad-lines").locator("tbody tr").all_inner_texts()
        assert rows == ["16\tcustomerMsgId is missing", "17\tcustomerMsgId is a duplicate of line 1"]
        # The good lines are sent only on the explicit choice to skip the bad ones (a required checkbox).
        skip = page.get_by_label("Skip the bad lines and send the good ones")
        assert not skip.is_checked() and skip.get_attribute("required") is not None
        page.get_by_text("2 bad lines will not be sent.").wait_for()
        page.get_by_role("button", name="Send 15 messages").click()  # refused by the browser: box not ticked
        assert PushTask.objects.filter(push_type="MULTIPLE").count() == 0

        page.goto(f"{base}/multiple/")
        page.get_by_label("Template").select_option(label="promo")
        page.get_by_label("File").set_input_files(str(good))
        page.get_by_role("button", name="Upload and check").click()
        page.get_by_role("button", name="Send 12 messages").wait_for(timeout=30_000)
        assert page.get_by_test_id("upload-percent").inner_text() == "100%"
        assert page.get_by_test_id("preview-rows").locator("tbody tr").count() == 10
        assert "Hi G1" in page.get_by_test_id("preview-rows").inner_text()
        page.get_by_role("button", name="Send 12 messages").click()
        page.get_by_test_id("task-status").wait_for()
        expect(page.get_by_test_id("task-status")).to_have_text("Queued", timeout=30_000)
        assert page.get_by_test_id("ingest-progress").get_attribute("value") == "100"
    task = PushTask.objects.get(push_type="MULTIPLE")
    assert task.status == TaskStatus.QUEUED and task.messages.count() == 12
