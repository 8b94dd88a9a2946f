"""Headless Chromium: a marketer's template send (a multiple push from a file) reaches simulated devices of a sandbox app end to end.

A real Celery worker runs the delivery engine, the devices are the virtual devices of
`manage.py simulate_devices` talking to the live server through the signed client API
(report, bind, long-poll, ack, open), and the marketer watches the task list and opens
each message's status and timeline.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from campaigns.codes import PushStatus
from campaigns.management.commands.simulate_devices import VirtualDevice
from campaigns.models import Message, MessageState, PushTask, StatusEvent, TaskStatus
from console.celery import app as celery_app
from tests.campaigns.send_fixtures import make_template

DEVICES = 3
TASK_NAME = "Spring sale to simulated phones"


@pytest.fixture
def simulated(app, live_server):
    """Virtual devices that reported themselves and bound a user id; they poll once started."""
    devices = [
        VirtualDevice(
            base_url=live_server.url,
            app_key=app.app_key,
            secret=app.app_secret,
            device_id=f"sim-browser-{i}",
            platform="android",
        )
        for i in range(DEVICES)
    ]
    for i, device in enumerate(devices):
        device.register(f"shopper-{i}")
    threads: list[threading.Thread] = []

    def start(seconds: float) -> None:
        until = time.monotonic() + seconds
        for device in devices:
            thread = threading.Thread(
                target=device.run, kwargs={"until": until, "open_rate": 1.0, "rng": random.Random(7)}, daemon=True
            )
            thread.start()
            threads.append(thread)

    yield devices, start
    for thread in threads:
        thread.join(30)
    for device in devices:
        device.client.close()


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_template_multiple_send_to_simulated_devices_shows_progress_status_and_timeline(
    page, login, app, marketer, settings, simulated, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    targets_file = tmp_path / "targets.csv"
    targets_file.write_text("".join(f"shopper-{i},spring-{i},name=Shopper {i}\n" for i in range(DEVICES)))
    settings.PUSHDECK_POLL_INTERVAL = 0.1
    settings.PUSHDECK_POLL_MAX_WAIT = 2.0
    app.sandbox = True
    app.save(update_fields=["sandbox"])
    make_template(app, "sale", title="Hi #name#", body="Spring sale starts now")
    devices, start_polling = simulated
    assert [d.errors for d in devices] == [0] * DEVICES
    base = f"/apps/{app.app_key}/"

    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=10,
        queues=["ingest", "dispatch", "default", "receipts", "rollups"],
    ):
        login(marketer)
        page.goto(base + "send/multiple/")
        page.get_by_label("Template").select_option(label="sale")
        page.get_by_label("Target id type").select_option(label="User id")
        page.get_by_label("File").set_input_files(str(targets_file))
        page.get_by_label("Android channel").select_option(label="Self-built channel only")
        page.get_by_label("Task name").fill(TASK_NAME)
        page.get_by_role("button", name="Upload and check").click()
        page.get_by_role("button", name=f"Send {DEVICES} messages").click(timeout=30_000)
        page.get_by_test_id("task-status").wait_for()
        task = PushTask.objects.get(name=TASK_NAME)

        # The devices have not polled yet: the worker dispatched the task and it waits for them.
        page.goto(base + "tasks/")
        row = page.get_by_test_id("task-row").filter(has_text=TASK_NAME)
        expect(row).to_contain_text("Running", timeout=30_000)
        assert row.get_by_test_id("progress").inner_text().endswith("%")
        assert Message.objects.filter(task=task, state__in=[MessageState.ACCEPTED]).count() == 0

        # The phones come online: they long-poll, ack and open. The row refreshes itself to the end.
        start_polling(20.0)
        expect(row).to_contain_text("Finished", timeout=45_000)
        expect(row.get_by_test_id("progress")).to_have_count(0)
        cells = row.locator("td").all_inner_texts()
        assert cells[5:7] == [str(DEVICES), str(DEVICES)], cells  # pushed, succeeded

    task.refresh_from_db()
    assert task.status == TaskStatus.FINISHED
    messages = list(Message.objects.filter(task=task).order_by("pk"))
    assert [m.state for m in messages] == [MessageState.ACCEPTED] * DEVICES
    assert [m.status for m in messages] == [PushStatus.ACKED] * DEVICES
    assert sum(d.received for d in devices) == DEVICES
    assert sum(d.errors for d in devices) == 0

    # Each message's status and timeline, opened from its row in the message list.
    page.goto(base + "messages/")
    page.get_by_label("Push type").select_option(label="Multiple")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("message-row")).to_have_count(DEVICES)
    for message in messages:
        message_row = page.get_by_test_id("message-row").filter(has_text=message.customer_msg_id)
        message_row.get_by_role("button", name="Details").click()
        detail = page.locator(f"#detail-{message.pk}").get_by_test_id("message-detail")
        expect(detail).to_contain_text(str(message.pk))
        expect(detail).to_contain_text(TASK_NAME)
        status = detail.locator("dd").nth(2)
        expect(status).to_contain_text(str(PushStatus.ACKED.value))
        timeline = detail.get_by_test_id("status-timeline").locator("tbody tr")
        events = StatusEvent.objects.filter(message=message).count()
        assert events >= 2  # at least queued/sent and the ack
        expect(timeline).to_have_count(events)
        expect(detail.get_by_test_id("status-timeline").locator("tbody")).to_contain_text(
            message.deliveries.get().device.device_id
        )
