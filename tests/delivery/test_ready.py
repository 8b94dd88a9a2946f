"""Small sends wait in the ready list (campaigns.delivery.ready): each id is dispatched by exactly
one drainer, however many drain at the same moment; an id added after a drain's last look
publishes a new drain message; a send whose id was lost is dispatched by the beat sweep and
reaches the gateway."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.delivery import ready
from campaigns.delivery.tasks import dispatch_ready
from campaigns.models import MessageState, PushTask, TaskStatus
from console.security.counters import redis_client
from tests.apiclient import SignedClient, enable_server_api

from .conftest import make_device, make_task


@pytest.fixture
def empty_list(app):
    client = redis_client()
    client.delete(ready.READY_KEY, ready.MARK_KEY)
    yield client
    client.delete(ready.READY_KEY, ready.MARK_KEY)


def test_two_drainers_at_the_same_moment_take_each_id_once(empty_list):
    published = []
    for task_id in range(1, 3001):
        ready.add(task_id, lambda: published.append(1))
    assert published == [1]  # one drain message for the whole burst
    barrier = threading.Barrier(2)
    taken: list[list[int]] = [[], []]

    def drainer(n: int) -> None:
        barrier.wait()
        taken[n].extend(ready.drain())

    threads = [threading.Thread(target=drainer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken[0] and taken[1], "both drained at once"
    assert sorted(taken[0] + taken[1]) == list(range(1, 3001))


def test_an_id_added_after_the_last_look_publishes_a_new_drain(empty_list):
    published = []
    ready.add(1, lambda: published.append("first"))
    ready.add(2, lambda: published.append("second"))  # the first message is pending
    assert published == ["first"]
    assert list(ready.drain()) == [1, 2]
    ready.add(3, lambda: published.append("third"))  # the drain's marker is gone
    assert published == ["first", "third"]
    assert list(ready.drain()) == [3] and ready.waiting() == 0


def test_an_api_push_waits_in_the_ready_list_with_one_drain_message(
    client, app, empty_list, django_capture_on_commit_callbacks
):
    api = SignedClient(client, app, private_pem=enable_server_api(app))
    empty_list.delete("dispatch")
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            body = {"taskName": f"t{n}", "deliveryType": 1, "targetMsgkey": {"d": f"m{n}"}, "title": "t", "body": "b"}
            assert api.post("/api/v1/push/simple", body).json()["resultCode"] == 100
    tasks = list(PushTask.objects.filter(app=app).order_by("pk").values_list("pk", flat=True))
    assert [int(x) for x in empty_list.lrange(ready.READY_KEY, 0, -1)] == tasks
    queued = empty_list.lrange("dispatch", 0, -1)
    assert len(queued) == 1 and b"campaigns.delivery.tasks.dispatch_ready" in queued[0]


def test_a_send_whose_id_was_lost_is_dispatched_by_the_sweep_and_delivered(app, gateways, empty_list, monkeypatch):
    """A worker popped the id and died: the send is still queued; beat's drain finds it once it
    is STALE_AFTER old, and its message reaches the fake gateway."""
    device = make_device(app, "i1", platform="ios")
    device_task = make_task(app, ["i1"])
    PushTask.objects.filter(pk=device_task.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    assert ready.stale(now=timezone.now()) == []  # not yet: it may still be in the list
    PushTask.objects.filter(pk=device_task.pk).update(created_at=timezone.now() - ready.STALE_AFTER - timedelta(1))
    # Chunks run here, as a worker would run them.
    from campaigns.delivery import dispatch, tasks

    monkeypatch.setattr(tasks.deliver_chunk, "apply_async", lambda kwargs: dispatch.chunk_deliver(**kwargs))
    assert dispatch_ready(sweep=True) == 1
    device_task.refresh_from_db()
    assert device_task.status != TaskStatus.QUEUED
    message = device_task.messages.get()
    assert message.state == MessageState.ACCEPTED
    assert [r.token for r in gateways.apns.requests] == [device.apns_token]


def test_with_the_ready_list_out_of_reach_a_send_publishes_its_own_message(
    client, app, empty_list, monkeypatch, django_capture_on_commit_callbacks
):
    import redis

    class Unreachable:
        """The ready list's Redis, gone (the broker still answers)."""

        def pipeline(self, transaction=False):
            return self

        def rpush(self, *args):
            pass

        def set(self, *args, **kwargs):
            pass

        def execute(self):
            raise redis.exceptions.ConnectionError("Redis went away")

    api = SignedClient(client, app, private_pem=enable_server_api(app))
    empty_list.delete("dispatch")
    monkeypatch.setattr(ready, "redis_client", Unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        body = {"taskName": "t", "deliveryType": 1, "targetMsgkey": {"d": "m"}, "title": "t", "body": "b"}
        assert api.post("/api/v1/push/simple", body).json()["resultCode"] == 100
    monkeypatch.undo()
    task = PushTask.objects.get(app=app)
    queued = empty_list.lrange("dispatch", 0, -1)
    assert len(queued) == 1 and b"campaigns.delivery.tasks.dispatch_task" in queued[0]
    assert f"[{task.pk}]".encode() in queued[0] and empty_list.llen(ready.READY_KEY) == 0
