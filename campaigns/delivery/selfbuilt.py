"""The self-built channel: devices long-poll for their waiting messages and ack them.

A device is online while it keeps polling: a poll marks it seen (a write at most once a
minute per device, none per idle poll) and the expiry sweep marks devices offline that have
not polled for a while. A message for an offline device waits (status 0) and goes out at
its next poll, until it expires. A waiting poll sleeps on a wake-up (campaigns.delivery.wakeup),
published when a message for its device starts waiting.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from functools import wraps

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from campaigns.codes import PushStatus
from campaigns.models import Channel, Delivery, Device, Message, MessageState, TargetType

from . import status
from .wakeup import Waiter, hub

SEEN_EVERY = timedelta(seconds=60)


def _waiting(device: Device, now: datetime):
    return (
        Delivery.objects.filter(
            device=device,
            channel=Channel.SELF_BUILT,
            state=MessageState.WAITING,
            message__expires_at__gt=now,
        )
        .select_related("message")
        .order_by("pk")
    )


def _as_json(delivery: Delivery) -> dict:
    m = delivery.message
    p = m.payload or {}
    return {
        "pushId": str(delivery.push_id),
        "msgId": str(m.pk),
        "title": m.title,
        "body": m.body,
        "displayType": p.get("display_type", "notification"),
        "displayStyle": p.get("display_style", "default"),
        "clickAction": p.get("click_action", "open_app"),
        "url": p.get("url", ""),
        "activity": p.get("activity", ""),
        "iconUrl": p.get("icon_url", ""),
        "imageUrl": p.get("image_url", ""),
        "extras": p.get("extras") or {},
        "expiresAt": m.expires_at.isoformat(),
    }


def _mark_seen(device: Device, now: datetime) -> None:
    """Online and seen: one UPDATE when the device was offline or last seen over a minute ago."""
    Device.objects.filter(pk=device.pk).filter(
        Q(online=False) | Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - SEEN_EVERY)
    ).update(online=True, last_seen_at=now, last_active_at=now)


def _fetch(device: Device, limit: int) -> list[dict]:
    return [_as_json(d) for d in _waiting(device, timezone.now())[:limit]]


def _first_look(device: Device, limit: int) -> list[dict]:
    """What waits for the device now; then it is seen (and online) while it waits."""
    found = _fetch(device, limit)
    _mark_seen(device, timezone.now())
    return found


def released(func):
    """`func` for sync_to_async(thread_sensitive=False) on the event loop: its database connection
    goes back when it returns (to the pool with DB_POOL_SIZE, else closed). No request ends
    there to hand it back: each call runs in a copy of the poll's context, and a pooled
    connection left in it was never returned, so a process's pool ran dry after DB_POOL_SIZE
    polls, and every request of that process then waited for a connection."""

    @wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    return run


def _bounded(wait: float) -> float:
    return max(0.0, min(wait, settings.PUSHDECK_POLL_MAX_WAIT))


def device_poll(*, device: Device, wait: float, limit: int = 100) -> list[dict]:
    """Hold the poll up to `wait` seconds until the device has waiting messages; return them."""
    deadline = time.monotonic() + _bounded(wait)
    waiter = Waiter()
    live = hub.register(device.pk, waiter)
    look = _first_look
    try:
        while True:
            found, look = look(device, limit), _fetch
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            waiter.event.wait(remaining if live else min(remaining, settings.PUSHDECK_POLL_INTERVAL))
            waiter.event.clear()
    finally:
        hub.unregister(device.pk, waiter)


async def device_poll_async(*, device: Device, wait: float, limit: int = 100) -> list[dict]:
    """The same for an async server: a waiting poll holds no thread and runs no query."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _bounded(wait)
    in_pool = sync_to_async(thread_sensitive=False)
    live = await loop.run_in_executor(None, hub._ensure)
    waiter = Waiter(loop)
    hub.register(device.pk, waiter)
    look = _first_look
    try:
        while True:
            found, look = await in_pool(released(look))(device, limit), _fetch
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                return found
            try:
                timeout = remaining if live else min(remaining, settings.PUSHDECK_POLL_INTERVAL)
                await asyncio.wait_for(waiter.event.wait(), timeout)
            except TimeoutError:
                pass
            waiter.event.clear()
    finally:
        hub.unregister(device.pk, waiter)


def devices_offline(*, now: datetime | None = None) -> int:
    """Devices that stopped polling (no poll for the longest wait plus two minutes) go offline."""
    now = now or timezone.now()
    quiet = now - timedelta(seconds=settings.PUSHDECK_POLL_MAX_WAIT) - 2 * SEEN_EVERY
    return Device.objects.filter(online=True, last_seen_at__lt=quiet).update(online=False)


def device_ack(*, device: Device, push_ids: list[str], now: datetime | None = None) -> int:
    """Status 2 Acked for each waiting message the device confirms."""
    now = now or timezone.now()
    ids = list(
        Delivery.objects.filter(
            device=device, push_id__in=push_ids, channel=Channel.SELF_BUILT, state=MessageState.WAITING
        ).values_list("pk", flat=True)
    )
    outcomes = [status.Outcome(pk, MessageState.ACCEPTED, PushStatus.ACKED, reason="device acked") for pk in ids]
    changed = status.deliveries_record(outcomes, now=now)
    for task_id in set(Delivery.objects.filter(pk__in=ids).values_list("message__task_id", flat=True)):
        status.task_maybe_finish(task_id, now=now)
    return changed


def messages_for_new_binding(*, app_id: int, user_id: str, now: datetime | None = None) -> list[int]:
    """Messages to this user waiting for a binding (1 NoBindInfo) that have not expired."""
    now = now or timezone.now()
    return list(
        Message.objects.filter(
            app_id=app_id,
            target_type=TargetType.USER,
            target_id=user_id,
            state=MessageState.WAITING,
            status=PushStatus.NO_BIND_INFO,
            expires_at__gt=now,
        ).values_list("pk", flat=True)
    )


def expire_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Open deliveries and messages past their valid period become EXPIRED (final)."""
    now = now or timezone.now()
    devices_offline(now=now)
    open_states = [MessageState.QUEUED, MessageState.WAITING]
    # A send in flight is left to its worker; one stuck long after (its chunk lost) is closed too,
    # so every message ends with a final status.
    stuck = now - timedelta(seconds=settings.PUSHDECK_STUCK_SECONDS)
    # Open deliveries are few (delivery_open_by_message); their messages are read by key.
    rows = list(
        Delivery.objects.filter(
            Q(state__in=open_states) | Q(state=MessageState.SENDING, updated_at__lt=stuck),
            message__expires_at__lte=now,
        )
        .values_list("pk", "status")
        .order_by("pk")[:limit]
    )
    outcomes = [
        status.Outcome(pk, MessageState.EXPIRED, st, reason="expired before the device acked") for pk, st in rows
    ]
    count = status.deliveries_record(outcomes, now=now)
    stale = Message.objects.filter(expires_at__lte=now, deliveries__isnull=True)
    no_bind = list(stale.filter(state=MessageState.WAITING).values_list("pk", flat=True)[:limit])
    count += status.messages_close(
        no_bind, state=MessageState.EXPIRED, status=PushStatus.NO_BIND_INFO, reason="no binding appeared before expiry"
    )
    lost = list(
        stale.filter(state__in=[MessageState.QUEUED, MessageState.SENDING], status_changed_at__lt=stuck).values_list(
            "pk", flat=True
        )[:limit]
    )
    count += status.messages_close(
        lost, state=MessageState.EXPIRED, status=PushStatus.NONE, reason="expired before it could be sent"
    )
    no_bind += lost
    # Fan-out messages with final deliveries but a range short of devices (deleted, logged out).
    fanout = list(
        Message.objects.filter(
            expires_at__lte=now,
            state__in=[MessageState.QUEUED, MessageState.SENDING, MessageState.WAITING],
            target_id="",
            fanout_devices__isnull=False,
        )
        .exclude(pk__in=lost)
        .values_list("pk", flat=True)[:limit]
    )
    count += status.fanout_messages_expire(fanout, now=now)
    no_bind += fanout
    task_ids = set(
        Message.objects.filter(Q(deliveries__pk__in=[pk for pk, _ in rows]) | Q(pk__in=no_bind)).values_list(
            "task_id", flat=True
        )
    )
    for task_id in task_ids:
        status.task_maybe_finish(task_id, now=now)
    return count
