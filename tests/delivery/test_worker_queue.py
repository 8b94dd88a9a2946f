"""Behaviour that depends on the queue, with a real Celery worker on the real broker:
retries with backoff honouring Retry-After, and per-app concurrency limits."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from campaigns.models import Delivery, Message, MessageState, StatusEvent, TargetType, TaskStatus
from console.celery import app as celery_app
from tests.factories import AppFactory
from tests.fakes.apns import Answer

from .conftest import apns_certificate, make_device, make_task, wait_for

QUEUES = "dispatch,default,receipts"


def finished(task):
    task.refresh_from_db()
    return task.status == TaskStatus.FINISHED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_transient_errors_are_retried_after_retry_after_and_end_accepted(app, gateways, clean_broker, settings):
    settings.PUSHDECK_RETRY_BASE_SECONDS = 0.2
    busy_token, fine_token = "b5" + "a" * 62, "0" + "b" * 63
    gateways.apns.script[busy_token] = [Answer(429, "TooManyRequests", retry_after=1), Answer()]
    make_device(app, "busy", platform="ios", apns_token=busy_token)
    make_device(app, "fine", platform="ios", apns_token=fine_token)
    task = make_task(app, ["busy", "fine"], target_type=TargetType.IOS_DEVICE)
    from campaigns.delivery.tasks import dispatch_task

    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=False, queues=QUEUES.split(",")):
        dispatch_task.delay(task.pk)
        assert wait_for(lambda: finished(task), 30)
    busy = Delivery.objects.get(device__device_id="busy")
    assert (busy.state, busy.attempts) == (MessageState.ACCEPTED, 2)
    times = [r.at for r in gateways.apns.requests if r.token == busy_token]
    assert len(times) == 2 and times[1] - times[0] >= 0.95, "Retry-After: 1 is honoured"
    assert StatusEvent.objects.filter(delivery=busy, description__contains="TooManyRequests").exists()
    assert Message.objects.filter(task=task, state=MessageState.ACCEPTED).count() == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_gateway_outage_503_is_retried_with_backoff(app, gateways, clean_broker, settings):
    settings.PUSHDECK_RETRY_BASE_SECONDS = 0.2
    gateways.apns.next_answers.extend([Answer(503, "ServiceUnavailable", retry_after=1)] * 2)
    make_device(app, "o1", platform="ios", apns_token="0" + "c" * 63)
    task = make_task(app, ["o1"], target_type=TargetType.IOS_DEVICE)
    from campaigns.delivery.tasks import dispatch_task

    with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=False, queues=QUEUES.split(",")):
        dispatch_task.delay(task.pk)
        assert wait_for(lambda: finished(task), 30)
    delivery = Delivery.objects.get(message__task=task)
    assert (delivery.state, delivery.attempts) == (MessageState.ACCEPTED, 3)
    assert StatusEvent.objects.filter(delivery=delivery, description__contains="ServiceUnavailable").count() == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_one_apps_slow_broadcast_does_not_starve_another_app(app, gateways, pki, clean_broker, settings):
    settings.PUSHDECK_APP_CONCURRENCY = 1
    settings.PUSHDECK_CHANNEL_CONCURRENCY = 1
    settings.PUSHDECK_CHUNK_SIZE = 2
    settings.PUSHDECK_GATEWAY_BATCH = 1
    settings.PUSHDECK_SLOT_RETRY_SECONDS = 0.2
    other = AppFactory(name="Quiet app")
    apns_certificate(other, pki)
    for i in range(8):
        token = f"5{i}".ljust(64, "0")
        gateways.apns.script[token] = Answer(delay=0.5)
        make_device(app, f"slow{i}", platform="ios", apns_token=token)
    make_device(other, "q1", platform="ios", apns_token="1".ljust(64, "1"))
    make_device(other, "q2", platform="ios", apns_token="2".ljust(64, "2"))
    big = make_task(app, [f"slow{i}" for i in range(8)], target_type=TargetType.IOS_DEVICE)
    small = make_task(other, ["q1", "q2"], target_type=TargetType.IOS_DEVICE)
    from campaigns.delivery.tasks import dispatch_task

    with start_worker(celery_app, pool="threads", concurrency=3, perform_ping_check=False, queues=QUEUES.split(",")):
        started = time.monotonic()
        dispatch_task.delay(big.pk)
        time.sleep(0.3)
        dispatch_task.delay(small.pk)
        assert wait_for(lambda: finished(small), 20)
        small_done = time.monotonic() - started
        assert not finished(big), "the quiet app finished while the big send was still going"
        assert wait_for(lambda: finished(big), 30)
        big_done = time.monotonic() - started
    print(f"\nquiet app finished after {small_done:.1f}s, big app after {big_done:.1f}s")
    # 8 pushes of 0.5 s through one slot take at least 4 s even with 3 worker threads; the quiet
    # app's two pushes did not wait for them (asserted above by order, not by a clock).
    assert big_done >= 4.0
    assert small_done < big_done
