"""Headless Chromium follows a send the way a marketer does: submit, land on the task page,
watch it update itself (phases, counts, the chart) while a real Celery worker delivers through
the sandbox gateway, see the empty outcome explained, and open the send's messages.

Screenshots of the page mid-send and at the end are saved under var/artifacts/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.delivery.selfbuilt import expire_due
from campaigns.models import Message, MessageState, PushTask, TaskStatus
from console.celery import app as celery_app
from tests.campaigns.send_fixtures import bind, make_device

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_send_then_watch_the_live_task_page_to_its_messages(page, login, app, marketer, auditor, client_for):
    app.sandbox = True
    app.save(update_fields=["sandbox"])
    for i in range(1, 4):
        bind(app, f"u{i}", make_device(app, f"phone-{i}", platform="ios", apns_token=f"{i:064x}"))
    base = f"/apps/{app.app_key}"
    login(marketer)
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=["dispatch", "default"]
    ):
        page.goto(f"{base}/send/simple/")
        page.locator("[name=targets]").fill("u1\nu2\nu3\nu4\nu5")
        page.get_by_label("Title").fill("Spring sale")
        page.get_by_label("Body").fill("20% off today")
        page.get_by_role("button", name="Preview").click()
        page.get_by_role("button", name="Send", exact=True).click()
        page.get_by_test_id("task-live").wait_for()
        task = PushTask.objects.get(push_type="SIMPLE")
        assert page.url.endswith(f"/send/tasks/{task.pk}/")

        # Without a reload the page follows the worker: 3 accepted, 2 wait for a device to be bound.
        expect(page.get_by_test_id("task-status")).to_have_text("Running", timeout=30_000)
        expect(page.get_by_test_id("count-accepted")).to_have_text("3", timeout=30_000)
        expect(page.get_by_test_id("count-waiting")).to_have_text("2")
        expect(page.get_by_test_id("count-no_device")).to_have_text("2")
        expect(page.get_by_test_id("count-arrived")).to_have_text("3")  # accepted by APNs (sandbox) = arrived
        assert page.get_by_test_id("phase-send").get_attribute("data-state") == "done"
        assert page.get_by_test_id("phase-arrive").get_attribute("data-state") == "active"
        assert page.locator("#phase-bar-arrive").get_attribute("value") == "60"
        expect(page.get_by_test_id("task-explanation")).to_contain_text(
            "2 messages wait for a device to be bound to their users"
        )
        expect(page.get_by_test_id("delivery-chart")).to_contain_text("3 in all")
        assert page.get_by_test_id("task-live").get_attribute("hx-trigger") == "every 2s"
        # Labels, not stored codes.
        assert page.get_by_test_id("display-labels").inner_text() == "Notification bar · Default (short text)"
        shot(page, "task-page-mid-send.png")

    # The two messages pass their expiry with no device bound: the beat's job closes them and
    # the open page turns final by itself, explains the empty outcome and stops polling.
    Message.objects.filter(task=task, state=MessageState.WAITING).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    expire_due()
    expect(page.get_by_test_id("task-status")).to_have_text("Finished", timeout=15_000)
    expect(page.get_by_test_id("count-expired")).to_have_text("2")
    expect(page.get_by_test_id("count-waiting")).to_have_text("0")
    expect(page.get_by_test_id("task-explanation")).to_contain_text(
        "2 messages expired: no device was bound to these users before they expired."
    )
    expect(page.get_by_test_id("failure-reasons")).to_contain_text("No device was bound to the user before it expired")
    assert page.get_by_test_id("task-live").get_attribute("hx-trigger") is None
    assert page.get_by_test_id("task-live").get_attribute("data-final") == "yes"
    expect(page.get_by_role("button", name="Stop send")).to_have_count(0)
    shot(page, "task-page-final.png")

    # From the task to its messages, filtered.
    page.get_by_test_id("task-messages-link").click()
    expect(page.get_by_test_id("message-row")).to_have_count(5)
    expect(page.get_by_test_id("task-filter-note")).to_contain_text(f"Messages of task {task.pk}")

    # The auditor reads the same page, without the actions.
    task.refresh_from_db()
    assert task.status == TaskStatus.FINISHED
    html = client_for(auditor).get(f"{base}/send/tasks/{task.pk}/").content.decode()
    assert 'data-testid="count-accepted">3<' in html and "Stop send" not in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_running_send_can_be_stopped_from_its_page(page, login, app, marketer):
    from tests.factories_campaigns import MessageFactory, PushTaskFactory

    task = PushTaskFactory(app=app, name="Long send", push_type="SIMPLE", status="running", total_rows=4,
                           started_at=timezone.now(), created_by=marketer)  # fmt: skip
    for i in range(4):
        MessageFactory(app=app, task=task, state="queued", target_id=f"x{i}")
    login(marketer)
    page.goto(f"/apps/{app.app_key}/send/tasks/{task.pk}/")
    expect(page.get_by_test_id("count-in_progress")).to_have_text("4")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop send").click()
    expect(page.get_by_test_id("task-status")).to_have_text("Stopped")
    task.refresh_from_db()
    assert task.status == TaskStatus.STOPPED
