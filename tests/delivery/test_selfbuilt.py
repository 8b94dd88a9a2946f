"""Self-built channel: long-poll, ack (status 2), offline waiting, binding appears, expiry, receipts."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.codes import PushStatus
from campaigns.delivery import selfbuilt
from campaigns.delivery.tasks import deliver_user_bound
from campaigns.models import (
    Delivery,
    Device,
    Message,
    MessageState,
    ReceiptEvent,
    StatusEvent,
    TargetType,
    TaskStatus,
    UsageRollup,
)
from tests.apiclient import SignedClient

from .conftest import make_device, make_task, run_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, app):
    return SignedClient(client, app, kind="client")


def test_offline_message_waits_then_is_polled_acked_and_finishes_the_task(app, api):
    make_device(app, "sb1")
    task = make_task(app, ["sb1"], payload={"display_type": "notification", "url": "https://x.test/a"})
    run_task(task)
    message = Message.objects.get(task=task)
    assert (message.state, message.status) == (MessageState.WAITING, PushStatus.DEVICE_NOT_ONLINE)
    body = api.post("/api/v1/client/poll", {"deviceId": "sb1", "wait": 0}).json()
    assert body["resultCode"] == 100 and len(body["messages"]) == 1
    item = body["messages"][0]
    assert (item["title"], item["url"], item["msgId"]) == ("Hello", "https://x.test/a", str(message.pk))
    assert api.post("/api/v1/client/ack", {"deviceId": "sb1", "pushIds": [item["pushId"]]}).json()["acked"] == 1
    message.refresh_from_db()
    task.refresh_from_db()
    assert (message.state, message.status, message.channel) == (MessageState.ACCEPTED, PushStatus.ACKED, "selfbuilt")
    assert task.status == TaskStatus.FINISHED and task.arrived == 1
    # A second ack changes nothing; nothing is handed out again.
    assert api.post("/api/v1/client/ack", {"deviceId": "sb1", "pushIds": [item["pushId"]]}).json()["acked"] == 0
    assert api.post("/api/v1/client/poll", {"deviceId": "sb1", "wait": 0}).json()["messages"] == []
    timeline = list(StatusEvent.objects.filter(message=message).values_list("status", flat=True))
    assert timeline == [PushStatus.DEVICE_NOT_ONLINE, PushStatus.ACKED, PushStatus.ACKED]
    assert Device.objects.get(device_id="sb1").last_seen_at is not None


def test_ack_with_bad_input_changes_nothing(app, api):
    make_device(app, "sb2")
    task = make_task(app, ["sb2"])
    run_task(task)
    for payload in ({"deviceId": "sb2"}, {"deviceId": "sb2", "pushIds": ["nope"]}, {"deviceId": "sb2", "pushIds": []}):
        assert api.post("/api/v1/client/ack", payload).json()["resultCode"] == 3028
    assert api.post("/api/v1/client/poll", {"deviceId": "sb2", "wait": "long"}).json()["resultCode"] == 3028
    assert Message.objects.get(task=task).state == MessageState.WAITING


@pytest.mark.django_db(transaction=True)
def test_long_poll_is_online_and_returns_when_a_message_arrives(app, settings):
    settings.PUSHDECK_POLL_INTERVAL = 30  # woken by the wake-up, not by looking again
    device = make_device(app, "lp1")
    got = {}

    def hold():
        got["messages"] = selfbuilt.device_poll(device=device, wait=5)
        connection.close()

    thread = threading.Thread(target=hold)
    started = time.monotonic()
    thread.start()
    time.sleep(0.5)
    assert Device.objects.get(pk=device.pk).online is True
    task = make_task(app, ["lp1"])
    run_task(task)
    thread.join(6)
    assert len(got["messages"]) == 1 and time.monotonic() - started < 4
    # Still online right after its poll; offline once it has not polled for a while.
    assert Device.objects.get(pk=device.pk).online is True
    selfbuilt.devices_offline(now=timezone.now() + timedelta(minutes=5))
    assert Device.objects.get(pk=device.pk).online is False


def test_message_waits_for_a_binding_and_goes_out_when_one_appears(app, api):
    task = make_task(app, ["carol"], target_type=TargetType.USER)
    run_task(task)
    message = Message.objects.get(task=task)
    assert (message.state, message.status) == (MessageState.WAITING, PushStatus.NO_BIND_INFO)
    make_device(app, "carol-phone")
    assert (
        api.post("/api/v1/client/user/bind", {"deviceId": "carol-phone", "userId": "carol"}).json()["resultCode"] == 100
    )
    # The binding's on-commit enqueue runs in a worker; here we call the task's function.
    assert deliver_user_bound.run(app.pk, "carol") == 1
    from campaigns.delivery import dispatch

    dispatch.chunk_deliver(task_id=task.pk, message_ids=[message.pk])
    delivery = Delivery.objects.get(message=message)
    assert delivery.state == MessageState.WAITING and delivery.device.device_id == "carol-phone"


def test_unacked_and_unbound_messages_expire_with_a_final_status(app):
    make_device(app, "sb3")
    waiting = make_task(app, ["sb3"], expires_in=60)
    unbound = make_task(app, ["dave"], target_type=TargetType.USER, expires_in=60)
    run_task(waiting)
    run_task(unbound)
    later = timezone.now() + timedelta(seconds=61)
    assert selfbuilt.expire_due(now=later) == 2
    m1 = Message.objects.get(task=waiting)
    m2 = Message.objects.get(task=unbound)
    assert (m1.state, m1.status) == (MessageState.EXPIRED, PushStatus.DEVICE_NOT_ONLINE)
    assert (m2.state, m2.status) == (MessageState.EXPIRED, PushStatus.NO_BIND_INFO)
    waiting.refresh_from_db()
    assert waiting.status == TaskStatus.FINISHED
    assert selfbuilt.expire_due(now=later) == 0


def test_receipt_events_are_counted_once_and_rolled_up(app, api):
    make_device(app, "sb4", app_version="3.1")
    task = make_task(app, ["sb4"])
    run_task(task)
    push_id = str(Delivery.objects.get(message__task=task).push_id)
    api.post("/api/v1/client/ack", {"deviceId": "sb4", "pushIds": [push_id]})
    for event in ("click", "click", "clean"):
        api.post("/api/v1/client/receipt", {"deviceId": "sb4", "pushId": push_id, "event": event})
    assert (
        api.post("/api/v1/client/receipt", {"deviceId": "sb4", "pushId": push_id, "event": "zap"}).json()["resultCode"]
        == 3028
    )
    assert (
        api.post("/api/v1/client/receipt", {"deviceId": "sb4", "pushId": "1" * 8, "event": "click"}).json()[
            "resultCode"
        ]
        == 3028
    )
    events = sorted(ReceiptEvent.objects.filter(message__task=task).values_list("event", flat=True))
    assert events == ["arrive", "clean", "click", "sent"]
    rollup = UsageRollup.objects.get(app=app, granularity="minute")
    assert (rollup.pushed, rollup.arrived, rollup.opened, rollup.cleared) == (1, 1, 1, 1)
    assert (rollup.channel, rollup.app_version, rollup.platform) == ("selfbuilt", "3.1", "android")
    task.refresh_from_db()
    assert task.opened == 1


def test_a_send_stuck_in_flight_is_closed_after_expiry_and_grace(app, settings):
    settings.PUSHDECK_STUCK_SECONDS = 60
    make_device(app, "st1")
    task = make_task(app, ["st1"], expires_in=10)
    run_task(task)
    Delivery.objects.filter(message__task=task).update(state=MessageState.SENDING)
    Message.objects.filter(task=task).update(state=MessageState.SENDING)
    soon = timezone.now() + timedelta(seconds=11)
    assert selfbuilt.expire_due(now=soon) == 0, "in flight: left to its worker"
    later = timezone.now() + timedelta(seconds=120)
    assert selfbuilt.expire_due(now=later) == 1
    assert Message.objects.get(task=task).state == MessageState.EXPIRED
    task.refresh_from_db()
    assert task.status == TaskStatus.FINISHED


@pytest.mark.django_db
def test_the_offline_sweep_reads_online_devices_through_their_partial_index(app):
    """Without a sequential scan to fall back on, the sweep's query runs on device_online_seen."""
    quiet = timezone.now() - timedelta(minutes=5)
    query = Device.objects.filter(online=True, last_seen_at__lt=quiet).values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # until the test's transaction ends
    plan = query.explain()
    assert "device_online_seen" in plan, plan
