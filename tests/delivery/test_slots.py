"""Per-app slots with any broker: PostgreSQL advisory locks when the broker is not Redis (RabbitMQ),
taken before a chunk builds any row, with an exponential backoff while busy."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection
from kombu import Connection

from campaigns.delivery import limits
from campaigns.delivery.tasks import dispatch_task
from campaigns.models import Delivery, Message, MessageState, TargetType

from .conftest import make_task, wait_for
from .test_claims import _ios_devices

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _in_thread(fn):
    """Run fn on another thread, i.e. on another database connection, and return its result."""
    out = []

    def run():
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            out.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return out[0]


@pytest.mark.django_db(transaction=True)
def test_advisory_slots_limit_every_connection_and_a_dead_holder_frees_its_slot(settings):
    settings.CELERY_BROKER_URL = AMQP_URL
    settings.PUSHDECK_APP_CONCURRENCY = 2

    def take():
        try:
            with limits.app_slot(77):
                return "got it"
        except limits.SlotsBusy:
            return "busy"

    held = [limits.app_slot(77), limits.app_slot(77)]
    for slot in held:
        slot.__enter__()
    assert limits.slots_in_use(77) == 2
    assert _in_thread(take) == "busy"
    held.pop().__exit__(None, None, None)
    assert _in_thread(take) == "got it"
    # A worker killed while holding a slot: its connection closes and the slot is free again.
    connection.close()
    assert _in_thread(lambda: limits.slots_in_use(77)) == 0
    assert _in_thread(take) == "got it"


def test_slot_backoff_grows_exponentially(settings):
    settings.PUSHDECK_SLOT_RETRY_SECONDS = 1.0
    waits = [limits.slot_backoff(n) for n in range(5)]
    assert all(0.8 * 2**n <= w <= 1.2 * 2**n for n, w in enumerate(waits)), waits
    assert limits.slot_backoff(20) <= 72


@pytest.mark.worker
@pytest.mark.slow
def test_on_rabbitmq_a_chunk_waits_for_its_app_slot_before_building_rows(app, engine_fleet):
    with Connection(AMQP_URL, connect_timeout=5) as amqp:
        amqp.ensure_connection(max_retries=1)  # make test starts RabbitMQ; it must be there
        for queue in ("dispatch", "default"):
            try:
                amqp.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - not declared yet: nothing to purge
                amqp.close()
                amqp.ensure_connection(max_retries=1)
    total = 30
    task = make_task(app, _ios_devices(app, "rabbit", total), target_type=TargetType.IOS_DEVICE, expires_in=600)
    # This process holds the app's only slot, as a worker busy with another chunk of the app would.
    limits_settings = {"CELERY_BROKER_URL": AMQP_URL, "PUSHDECK_APP_CONCURRENCY": "1"}
    from django.test import override_settings

    with override_settings(CELERY_BROKER_URL=AMQP_URL, PUSHDECK_APP_CONCURRENCY=1):
        holder = limits.app_slot(app.pk)
        holder.__enter__()
    worker = engine_fleet.start(PUSHDECK_SLOT_RETRY_SECONDS="0.5", **limits_settings)
    assert wait_for(lambda: " ready." in engine_fleet.logs[0].read_text() or worker.poll() is not None, 90)
    with Connection(AMQP_URL) as amqp:
        dispatch_task.apply_async(args=[task.pk], connection=amqp, queue="dispatch")
    assert wait_for(lambda: engine_fleet.logs[0].read_text().count("deliver_chunk[") >= 3, 30)
    log = engine_fleet.logs[0].read_text()
    assert not Delivery.objects.filter(message__task=task).exists(), "no row is built without the slot"
    assert engine_fleet.apns.requests == []
    assert "amqp://" in log and log.count("deliver_chunk[") >= 3, log[-3000:]  # requeued, later each time
    holder.__exit__(None, None, None)

    def done():
        return Message.objects.filter(task=task, state=MessageState.ACCEPTED).count() == total

    assert wait_for(done, timeout=90), engine_fleet.logs[0].read_text()[-3000:]
    seen = engine_fleet.apns.seen_apns_ids
    assert len(seen) == total and max(seen.values()) == 1
