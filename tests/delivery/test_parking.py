"""A day-long Retry-After waits in the database (next_attempt_at), queued again by the beat sweep;
no broker countdown is ever longer than PUSHDECK_PARK_AFTER_SECONDS (below the visibility timeout)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns.codes import PushStatus
from campaigns.delivery import dispatch, status
from campaigns.delivery.tasks import deliver_chunk
from campaigns.models import Delivery, Message, MessageState, StatusEvent, TargetType, TaskStatus
from tests.fakes.apns import Answer

from .conftest import make_device, make_task

pytestmark = pytest.mark.django_db

TOKEN = "da" * 32


class Retried(Exception):
    """What the task's self.retry() raises, recorded instead of going to the broker."""


def test_retry_after_a_day_is_parked_in_the_database_and_sent_once_when_due(app, gateways, monkeypatch):
    assert settings.PUSHDECK_PARK_AFTER_SECONDS < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    make_device(app, "quota", platform="ios", apns_token=TOKEN)
    gateways.apns.script[TOKEN] = [Answer(429, "TooManyRequests", retry_after=86400), Answer()]
    task = make_task(app, ["quota"], target_type=TargetType.IOS_DEVICE, expires_in=3 * 86400)
    (chunk,) = dispatch.task_dispatch(task_id=task.pk)
    countdowns = []
    monkeypatch.setattr(deliver_chunk, "retry", lambda *a, **kw: countdowns.append(kw.get("countdown")))

    assert deliver_chunk(**chunk) == 1
    assert countdowns == [], "no broker countdown for a day-long wait"
    delivery = Delivery.objects.get(message__task=task)
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert delivery.state == MessageState.QUEUED and 86000 < wait <= 86400
    message = Message.objects.get(task=task)
    assert message.status_desc.startswith("retrying, attempt 2, next at ") and "TooManyRequests" in message.status_desc
    assert message.status == PushStatus.DEVICE_NOT_ONLINE

    # Redelivered copies of the chunk (what Redis did every 15 minutes) send nothing before its time.
    assert deliver_chunk(**chunk) == 1 and deliver_chunk(task_id=task.pk, delivery_ids=[delivery.pk]) == 1
    assert len(gateways.apns.requests) == 1
    assert status.deliveries_due() == {}

    # The beat sweep a day later hands it out once; the chunk it queues sends it with the same apns-id.
    later = timezone.now() + timedelta(days=1, seconds=5)
    due = status.deliveries_due(now=later)
    assert due == {task.pk: [delivery.pk]} and status.deliveries_due(now=later) == {}
    dispatch.chunk_deliver(task_id=task.pk, delivery_ids=due[task.pk])
    ids = [r.headers["apns-id"] for r in gateways.apns.requests]
    assert len(ids) == 2 and ids[0] == ids[1] == str(delivery.push_id)
    delivery.refresh_from_db()
    task.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (MessageState.ACCEPTED, 2, None)
    assert task.status == TaskStatus.FINISHED


def test_short_waits_stay_broker_countdowns_and_the_last_try_names_the_reason(app, gateways, monkeypatch, settings):
    settings.PUSHDECK_RETRY_BASE_SECONDS = 1.0
    settings.PUSHDECK_MAX_RETRIES = 1
    make_device(app, "flaky", platform="ios", apns_token=TOKEN)
    gateways.apns.script[TOKEN] = Answer(503, "ServiceUnavailable", retry_after=30)
    task = make_task(app, ["flaky"], target_type=TargetType.IOS_DEVICE)
    (chunk,) = dispatch.task_dispatch(task_id=task.pk)
    countdowns = []

    def retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return Retried()

    monkeypatch.setattr(deliver_chunk, "retry", retry)
    with pytest.raises(Retried):
        deliver_chunk(**chunk)
    assert countdowns == [30.0]
    delivery = Delivery.objects.get(message__task=task)
    assert delivery.next_attempt_at is None
    # The last attempt fails for good: a code that names the gateway's answer, not 99999999 Unknown.
    dispatch.chunk_deliver(task_id=task.pk, delivery_ids=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.state == MessageState.FAILED and delivery.status != PushStatus.NONE
    last = StatusEvent.objects.filter(delivery=delivery).order_by("-id").first()
    assert "ServiceUnavailable" in last.description
