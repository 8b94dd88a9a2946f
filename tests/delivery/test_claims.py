"""Claim before send: whatever runs twice at the same moment, every delivery reaches the gateway once.

Real worker processes send to the fake APNs over HTTP/2; the fake counts every apns-id it gets.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from campaigns.delivery import dispatch, status
from campaigns.delivery.tasks import deliver_chunk
from campaigns.models import FINAL_STATES, Delivery, Device, Message, MessageState, TargetType
from tests.apiclient import SignedClient

from .conftest import make_device, make_task, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def _ios_devices(app, prefix: str, n: int) -> list[str]:
    now = timezone.now()
    Device.objects.bulk_create(
        Device(app=app, device_id=f"{prefix}{i:04d}", platform="ios", apns_token=uuid.uuid4().hex * 2, created_at=now)
        for i in range(n)
    )
    return [f"{prefix}{i:04d}" for i in range(n)]


def _all_final(task) -> bool:
    return not Message.objects.filter(task=task).exclude(state__in=FINAL_STATES).exists()


def test_the_same_chunk_run_by_two_worker_processes_at_once_sends_every_apns_id_once(app, engine_fleet):
    total, copies = 300, 4
    task = make_task(app, _ios_devices(app, "twice", total), target_type=TargetType.IOS_DEVICE, expires_in=600)
    (chunk,) = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued([chunk])
    # Two machines' worth of workers, both up before the copies are queued so they start together.
    engine_fleet.start(concurrency=2, PUSHDECK_GATEWAY_BATCH="20")
    engine_fleet.start(concurrency=2, PUSHDECK_GATEWAY_BATCH="20")
    engine_fleet.wait_ready()
    for _ in range(copies):
        deliver_chunk.apply_async(kwargs=chunk)

    assert wait_for(lambda: _all_final(task), timeout=120), [log.read_text()[-2000:] for log in engine_fleet.logs]
    seen = engine_fleet.apns.seen_apns_ids
    pushed = set(Delivery.objects.filter(message__task=task).values_list("push_id", flat=True))
    print(f"\n{copies} runs of one chunk of {total}: {sum(seen.values())} requests, {len(seen)} apns-ids")
    assert {uuid.UUID(i) for i in seen} == pushed and len(pushed) == total
    assert max(seen.values()) == 1, Counter(seen.values())
    assert Counter(Message.objects.filter(task=task).values_list("state", flat=True)) == {MessageState.ACCEPTED: total}


def test_one_user_bound_from_two_clients_at_once_gets_every_message_once_per_device(app, engine_fleet):
    phone = make_device(app, "twin-phone", platform="ios")
    pad = make_device(app, "twin-pad", platform="ios")
    task = make_task(app, ["twin"] * 3, target_type=TargetType.USER, expires_in=600)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued(chunks)
    for kwargs in chunks:  # no binding yet: every message waits for one (1 NoBindInfo)
        dispatch.chunk_deliver(**kwargs)
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.WAITING}
    engine_fleet.start(concurrency=2)
    engine_fleet.start(concurrency=2)
    engine_fleet.wait_ready()

    # Four calls at the same moment: the phone and the pad log in, and each client retries its call.
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def bind(device_id: str) -> None:
        try:
            api = SignedClient(Client(), app, kind="client")
            barrier.wait(10)
            answers.append(
                api.post("/api/v1/client/user/bind", {"deviceId": device_id, "userId": "twin"}).json()["resultCode"]
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=bind, args=(d,)) for d in ("twin-phone", "twin-pad") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [100] * 4

    assert wait_for(lambda: _all_final(task), timeout=90), [log.read_text()[-2000:] for log in engine_fleet.logs]
    seen = engine_fleet.apns.seen_apns_ids
    deliveries = Delivery.objects.filter(message__task=task)
    print(f"\nfour binds at once: {sum(seen.values())} requests, {len(seen)} apns-ids, {deliveries.count()} deliveries")
    assert seen and max(seen.values()) == 1, seen
    assert {uuid.UUID(i) for i in seen} == set(deliveries.values_list("push_id", flat=True))
    tokens = Counter(r.token for r in engine_fleet.apns.requests)
    assert set(tokens) <= {phone.apns_token, pad.apns_token} and max(tokens.values()) <= 3, (
        "one push per message and device"
    )
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.ACCEPTED}


@pytest.mark.django_db
def test_a_claim_is_taken_once_and_the_sweep_reopens_only_stale_ones(app, settings):
    make_device(app, "cl1", platform="ios")
    make_device(app, "cl2", platform="ios")
    task = make_task(app, ["cl1", "cl2"], target_type=TargetType.IOS_DEVICE)
    for m in Message.objects.filter(task=task):
        Delivery.objects.create(message=m, device=Device.objects.get(device_id=m.target_id), channel="apns")
    ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    first = status.deliveries_claim(ids)
    assert first == {ids[0]: 1, ids[1]: 1}
    assert status.deliveries_claim(ids) == {}, "a second run claims nothing"
    # A retry parked until tomorrow is not claimed before its time.
    Delivery.objects.filter(pk=ids[1]).update(
        state=MessageState.QUEUED, next_attempt_at=timezone.now() + timedelta(days=1)
    )
    assert status.deliveries_claim([ids[1]]) == {}
    # The claim of ids[0] is fresh: not re-opened; once older than the timeout it is, once.
    assert status.deliveries_reopen_stale(older_than=timezone.now() - timedelta(seconds=60)) == {}
    Delivery.objects.filter(pk=ids[0]).update(updated_at=timezone.now() - timedelta(minutes=20))
    settings.PUSHDECK_CLAIM_TIMEOUT_SECONDS = 600
    assert status.deliveries_reopen_stale(older_than=timezone.now() - timedelta(seconds=600)) == {task.pk: [ids[0]]}
    assert status.deliveries_reopen_stale(older_than=timezone.now() - timedelta(seconds=600)) == {}
    assert Delivery.objects.get(pk=ids[0]).state == MessageState.QUEUED
