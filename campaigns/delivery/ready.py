"""Small sends wait in one Redis list for a worker to dispatch them, many per broker message.

A signed API push (at most 10 targets, or 400 for a multiple push) used to publish its own
Celery message from the web request, and that publish cost the request more CPU than any of
its queries. Now the request appends the task id to a list (RPUSH) and publishes a
`dispatch_ready` message only when none is pending (a marker set with SET NX). The worker that
takes it pops ids in batches and dispatches each task (the same code as `dispatch_task`); under
load one broker message carries hundreds of sends, and a lone push still goes out at once.

The marker protocol loses no id: the drainer deletes the marker before its last look at the
list, so an id pushed after that look finds the marker gone and publishes a new message. The
marker expires by itself (a lost message delays the ids behind it by at most MARK_SECONDS,
until the next push publishes again), and beat runs the drainer every 30 seconds too, which
also dispatches sends left queued for STALE_AFTER (an id popped by a worker that died). Big
sends (broadcasts, tags, accounts of many devices) keep a message of their own, so their
planning never holds up the small ones. Without Redis, every send publishes its own message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.db.models import Q
from redis.exceptions import RedisError

from campaigns.models import PushTask, TaskStatus
from console.security.counters import redis_client

logger = logging.getLogger(__name__)

READY_KEY = "pushdeck:dispatch:ready"
MARK_KEY = "pushdeck:dispatch:ready-mark"
MARK_SECONDS = 5
BATCH = 200
DRAIN_TASK = "campaigns.delivery.tasks.dispatch_ready"
STALE_AFTER = timedelta(minutes=2)


def add(task_id: int, publish: Callable[[], None]) -> bool:
    """Queue a committed task for dispatch; `publish` sends the drain message when none is pending.
    False without Redis (the caller publishes the task's own message)."""
    client = redis_client()
    if client is None:
        return False
    pipe = client.pipeline(transaction=False)
    pipe.rpush(READY_KEY, task_id)
    pipe.set(MARK_KEY, b"1", nx=True, ex=MARK_SECONDS)
    try:
        _length, marked = pipe.execute()
    except RedisError:
        # The caller publishes the task's own message instead (and the sweep finds it if that fails too).
        logger.warning("the ready list is out of reach; task %s is dispatched on its own", task_id)
        return False
    if marked:
        publish()
    return True


def drain() -> Iterator[int]:
    """Task ids waiting, in order, until the list is empty (each id to exactly one drainer)."""
    client = redis_client()
    if client is None:
        return
    while True:
        ids = client.lpop(READY_KEY, BATCH)
        if not ids:
            # Before the last look: from here on a new id publishes a new drain message.
            client.delete(MARK_KEY)
            ids = client.lpop(READY_KEY, BATCH)
            if not ids:
                return
        for raw in ids:
            yield int(raw)


def waiting() -> int:
    client = redis_client()
    return int(client.llen(READY_KEY)) if client is not None else 0


def stale(*, now: datetime, older_than: timedelta = STALE_AFTER, limit: int = 1000) -> list[int]:
    """Sends still waiting to start long after they were queued: their id or message was lost
    (a worker died between popping and dispatching, Redis restarted). Dispatching one again
    is safe: a running task only plans its messages not handed to a chunk yet."""
    cutoff = now - older_than
    due = Q(scheduled_at__isnull=True, created_at__lt=cutoff) | Q(scheduled_at__lt=cutoff)
    return list(PushTask.objects.filter(due, status=TaskStatus.QUEUED).values_list("pk", flat=True)[:limit])
