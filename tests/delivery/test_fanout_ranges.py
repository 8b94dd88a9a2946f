"""A fan-out message closes once every keyset range of it is done, even when devices of a range
were deleted or logged out before its chunk ran; two ranges finishing together close it once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.delivery import dispatch, selfbuilt
from campaigns.delivery.tasks import deliver_chunk
from campaigns.models import Device, FanoutRange, Message, MessageState, StatusEvent, TaskStatus

from .conftest import make_broadcast, make_device, wait_for


def _broadcast(app, n: int, *, expires_in: int = 180):
    devices = [make_device(app, f"r{i}", platform="ios") for i in range(n)]
    return make_broadcast(app, expires_in=expires_in), devices


def _final_events(message) -> int:
    return StatusEvent.objects.filter(message=message, delivery__isnull=True, state__in=list(_FINAL)).count()


_FINAL = {MessageState.ACCEPTED, MessageState.FAILED, MessageState.EXPIRED, MessageState.CANCELLED}


def test_broadcast_closes_on_a_real_worker_when_devices_of_its_ranges_are_gone(app, engine_fleet, settings):
    settings.PUSHDECK_CHUNK_SIZE = 2
    task, devices = _broadcast(app, 6)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued(chunks)
    assert len(chunks) == 3 and FanoutRange.objects.filter(done=False).count() == 3
    # Before the chunks run: one device of the first range deleted, the last range's two gone
    # (one deleted, one logged out).
    devices[0].delete()
    devices[4].delete()
    Device.objects.filter(pk=devices[5].pk).update(logged_in=False, logged_out_at=timezone.now())
    engine_fleet.start()
    engine_fleet.wait_ready()
    for kwargs in chunks:
        deliver_chunk.apply_async(kwargs=kwargs)
    message = Message.objects.get(task=task)

    def closed():
        task.refresh_from_db()
        return task.status == TaskStatus.FINISHED

    assert wait_for(closed, timeout=90), [log.read_text()[-2000:] for log in engine_fleet.logs]
    assert sorted(r.token for r in engine_fleet.apns.requests) == sorted(d.apns_token for d in devices[1:4])
    message.refresh_from_db()
    assert message.state == MessageState.ACCEPTED, message.status_desc
    assert message.status_desc == "3 of 6 devices reached"
    assert _final_events(message) == 1
    assert not FanoutRange.objects.filter(message=message, done=False).exists()


@pytest.mark.django_db(transaction=True)
def test_two_ranges_finishing_at_the_same_moment_close_the_message_once(app, gateways, settings):
    settings.PUSHDECK_CHUNK_SIZE = 2
    rounds = 4
    tasks = []
    for r in range(rounds):
        devices = [make_device(app, f"t{r}-{i}", platform="ios") for i in range(4)]
        task = make_broadcast(app)
        chunks = dispatch.task_dispatch(task_id=task.pk)
        dispatch.chunks_enqueued(chunks)
        assert len(chunks) == 2
        # One device of each range is gone: neither range reaches the count the dispatch saw.
        Device.objects.filter(pk__in=[devices[0].pk, devices[3].pk]).delete()
        tasks.append((task, chunks, devices))
        # The next round's broadcast must not see this round's devices.
        Device.objects.filter(pk__in=[devices[1].pk, devices[2].pk]).update(logged_in=False)
    for task, chunks, devices in tasks:
        Device.objects.filter(pk__in=[devices[1].pk, devices[2].pk]).update(logged_in=True)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(kwargs, barrier=barrier, errors=errors):
            try:
                barrier.wait(timeout=10)
                dispatch.chunk_deliver(**kwargs)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(kwargs,)) for kwargs in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        Device.objects.filter(pk__in=[devices[1].pk, devices[2].pk]).update(logged_in=False)
        message = Message.objects.get(task=task)
        task.refresh_from_db()
        assert message.state == MessageState.ACCEPTED and message.status_desc == "2 of 4 devices reached"
        assert _final_events(message) == 1, list(StatusEvent.objects.filter(message=message).values())
        assert task.status == TaskStatus.FINISHED
    assert len(gateways.apns.requests) == 2 * rounds


def test_range_with_every_device_gone_fails_the_message_clearly(app, gateways, settings):
    settings.PUSHDECK_CHUNK_SIZE = 2
    task, devices = _broadcast(app, 2)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued(chunks)
    Device.objects.filter(pk__in=[d.pk for d in devices]).delete()
    for kwargs in chunks:
        dispatch.chunk_deliver(**kwargs)
    dispatch.chunk_deliver(**chunks[0])  # the chunk delivered again changes nothing
    message = Message.objects.get(task=task)
    task.refresh_from_db()
    assert message.state == MessageState.FAILED
    assert message.status_desc == "no device of the target was left to send to"
    assert _final_events(message) == 1 and task.status == TaskStatus.FINISHED and task.failed == 1
    assert gateways.apns.requests == []


def test_expiry_sweep_closes_a_broadcast_whose_last_range_never_ran(app, gateways, settings):
    settings.PUSHDECK_CHUNK_SIZE = 2
    task, devices = _broadcast(app, 4, expires_in=60)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued(chunks)
    dispatch.chunk_deliver(**chunks[0])  # the second chunk is lost
    message = Message.objects.get(task=task)
    assert message.state not in _FINAL
    later = timezone.now() + timedelta(minutes=5)
    selfbuilt.expire_due(now=later)
    message.refresh_from_db()
    task.refresh_from_db()
    assert message.state == MessageState.ACCEPTED and message.status_desc == "2 of 4 devices reached"
    assert _final_events(message) == 1 and task.status == TaskStatus.FINISHED
    selfbuilt.expire_due(now=later)  # run again: nothing more
    assert _final_events(message) == 1
    dispatch.chunk_deliver(**chunks[1])  # the lost chunk turning up late sends nothing
    assert sorted(r.token for r in gateways.apns.requests) == sorted(d.apns_token for d in devices[:2])
