"""Stop, cancel and reject of a big send: the request only ends the task and queues the work; a worker
cancels the open messages in committed batches. (bench/stop.py prints the timings at 1 M and 2.5 M.)"""

from __future__ import annotations

from collections import Counter

import pytest
from django.urls import reverse

from campaigns.codes import PushStatus
from campaigns.delivery import dispatch
from campaigns.delivery.tasks import deliver_task_stop
from campaigns.models import Delivery, Message, MessageState, PushTask, StatusEvent, TargetType, TaskStatus
from console.models import AuditEntry
from tests.factories_campaigns import insert_messages

from .conftest import make_device, make_task

pytestmark = pytest.mark.django_db

STOP_TASK = "campaigns.delivery.tasks.deliver_task_stop"


def test_stopping_a_big_running_send_answers_at_once_and_a_worker_cancels_it_in_batches(
    app, marketer, client_for, gateways, django_capture_on_commit_callbacks, monkeypatch
):
    make_device(app, "sent-1", platform="ios")
    make_device(app, "open-1", platform="ios")
    task = make_task(app, ["sent-1", "open-1"], target_type=TargetType.IOS_DEVICE)
    (chunk,) = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunk_deliver(**chunk)  # both accepted ...
    Delivery.objects.filter(message__task=task, device__device_id="open-1").update(state=MessageState.QUEUED)
    Message.objects.filter(task=task, target_id="open-1").update(state=MessageState.SENDING)  # ... one not yet
    # As a submit of this many messages would count them: one reached its device.
    PushTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.RUNNING, finished_at=None, total_rows=50_002, succeeded=1, failed=0
    )
    big = 50_000
    insert_messages(task, 1, big, customer_msg_id="'big-' || g")
    sent = []
    monkeypatch.setattr("celery.current_app.send_task", lambda name, args, **kw: sent.append((name, args)))

    url = reverse("campaigns:send-task-stop", kwargs={"app_key": app.app_key, "task_id": task.pk})
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(marketer).post(url)
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.STOPPED
    # The request did no O(messages) work: it queued it.
    assert sent == [(STOP_TASK, [task.pk])]
    assert Message.objects.filter(task=task, state=MessageState.PENDING).count() == big
    # Counted with bounded work: beyond 10,000 open messages, from the task's counters.
    assert AuditEntry.objects.get(action="send.stop").summary["messages_cancelled"] == big + 1

    # The worker, in batches of 7,000 (each its own transaction).
    calls = Counter()
    original = dispatch.status.messages_cancel_undelivered

    def counted(*args, **kwargs):
        calls["batches"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(dispatch.status, "messages_cancel_undelivered", counted)
    assert dispatch.task_stop_deliveries(task_id=task.pk, batch=7_000) == big + 1
    assert calls["batches"] == big // 7_000 + 1
    states = Counter(Message.objects.filter(task=task).values_list("state", "status"))
    assert states == {
        (MessageState.CANCELLED, PushStatus.CANCELLED): big + 1,
        (MessageState.ACCEPTED, PushStatus.ACKED): 1,
    }
    assert StatusEvent.objects.filter(message__task=task, state=MessageState.CANCELLED).count() >= big + 1
    assert Delivery.objects.get(device__device_id="open-1").state == MessageState.CANCELLED
    # Run again (a redelivered job): nothing left, nothing changes.
    events = StatusEvent.objects.count()
    assert deliver_task_stop(task.pk) == 0 and StatusEvent.objects.count() == events


def test_reject_and_cancel_queue_the_cancellation_too(
    app, marketer, channel_admin, client_for, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("celery.current_app.send_task", lambda name, args, **kw: sent.append((name, args)))
    waiting = PushTask.objects.create(
        app=app,
        name="w",
        push_type="MULTIPLE",
        source="console",
        status=TaskStatus.AWAITING_APPROVAL,
        created_by=marketer,
    )
    insert_messages(waiting, 1, 1_000, customer_msg_id="'big-' || g")
    url = reverse("campaigns:send-task-reject", kwargs={"app_key": app.app_key, "task_id": waiting.pk})
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(channel_admin).post(url).status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == TaskStatus.REJECTED and sent == [(STOP_TASK, [waiting.pk])]
    assert deliver_task_stop(waiting.pk) == 1_000
    assert set(Message.objects.filter(task=waiting).values_list("state", flat=True)) == {MessageState.CANCELLED}
    # A task that is still running is not touched by a stray job.
    running = make_task(app, ["x"], target_type=TargetType.DEVICE)
    PushTask.objects.filter(pk=running.pk).update(status=TaskStatus.RUNNING)
    assert deliver_task_stop(running.pk) == 0
    assert Message.objects.get(task=running).state == MessageState.PENDING
