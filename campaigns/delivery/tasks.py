"""Celery tasks of this area (imported by campaigns.tasks for discovery). Thin: ids in, services do the work."""

from __future__ import annotations

import itertools
import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from campaigns.lookups import Many

from . import dispatch, ready, receipts, selfbuilt, sms
from .limits import SlotsBusy, receipt_batch_lock, receipt_slot, slot_backoff

logger = logging.getLogger(__name__)

__all__ = [
    "deliver_chunk",
    "deliver_expire_sweep",
    "deliver_parked_sweep",
    "deliver_sms_fallback",
    "deliver_sms_sweep",
    "deliver_task_stop",
    "deliver_user_bound",
    "dispatch_ready",
    "dispatch_task",
    "send_receipt",
    "send_receipts",
]


def backoff(retries: int, *, base: float | None = None, cap: float = 600.0) -> float:
    """Exponential backoff with jitter: base, 2*base, 4*base, ... capped."""
    base = settings.PUSHDECK_RETRY_BASE_SECONDS if base is None else base
    delay = min(cap, base * (2**retries))
    return delay * random.uniform(0.8, 1.2)


@shared_task(name="campaigns.delivery.tasks.dispatch_task", acks_late=True)
def dispatch_task(task_id: int) -> int:
    """Split a submitted task into chunks that any worker can take."""
    chunks = dispatch.task_dispatch(task_id=task_id)
    for kwargs in chunks:
        deliver_chunk.apply_async(kwargs=kwargs)
    dispatch.chunks_enqueued(chunks)
    return len(chunks)


@shared_task(name="campaigns.delivery.tasks.dispatch_ready", acks_late=True)
def dispatch_ready(sweep: bool = False) -> int:
    """Dispatch the small sends waiting in the ready list (delivery.ready), many per message;
    from beat (`sweep`), also sends left queued too long. Returns the chunks enqueued."""
    chunks = 0
    task_ids = ready.stale(now=timezone.now()) if sweep else []
    for task_id in itertools.chain(task_ids, ready.drain()):  # popped as they are dispatched
        try:
            chunks += dispatch_task(task_id)
        except Exception:
            # This send waits for the sweep (still queued); the ids after it go on now.
            logger.exception("dispatch of task %s failed", task_id)
    return chunks


@shared_task(
    bind=True,
    name="campaigns.delivery.tasks.deliver_chunk",
    acks_late=True,
    max_retries=settings.PUSHDECK_MAX_RETRIES,
    # The database or broker going away mid-chunk: run the (idempotent) chunk again later.
    autoretry_for=(DatabaseError, OSError),
    retry_backoff=5,
    retry_backoff_max=600,
)
def deliver_chunk(
    self,
    task_id: int,
    message_ids: list[int] | None = None,
    message_id: int | None = None,
    device_ids: list[int] | None = None,
    delivery_ids: list[int] | None = None,
    device_range: list[int] | None = None,
    resolved_at: str | None = None,
    slot_waits: int = 0,
) -> int:
    """Send one chunk; transient failures come back later with backoff (Retry-After honoured).

    Only short waits are broker countdowns; longer ones are parked in the database."""
    kwargs = {
        "task_id": task_id,
        "message_ids": message_ids,
        "message_id": message_id,
        "device_ids": device_ids,
        "delivery_ids": delivery_ids,
    }
    if device_range is not None:
        kwargs.update(device_range=device_range, resolved_at=resolved_at)
    try:
        retry = dispatch.chunk_deliver(**kwargs, final_attempt=self.request.retries >= self.max_retries)
    except SlotsBusy as busy:
        # The app or channel is at its limit: give the worker to someone else for now, and come
        # back later each time it is still busy (exponential backoff, not a queue churning every second).
        again = {"task_id": task_id, "delivery_ids": busy.delivery_ids} if busy.delivery_ids is not None else kwargs
        deliver_chunk.apply_async(
            kwargs={**again, "slot_waits": slot_waits + 1},
            countdown=slot_backoff(slot_waits),
            retries=self.request.retries,
        )
        return 0
    if retry.delivery_ids:
        countdown = min(retry.retry_after, settings.PUSHDECK_PARK_AFTER_SECONDS)
        raise self.retry(kwargs={"task_id": task_id, "delivery_ids": retry.delivery_ids}, countdown=countdown)
    return 1


def _queue_deliveries(by_task: dict[int, list[int]]) -> int:
    size = settings.PUSHDECK_CHUNK_SIZE
    for task_id, ids in by_task.items():
        for start in range(0, len(ids), size):
            deliver_chunk.apply_async(kwargs={"task_id": task_id, "delivery_ids": ids[start : start + size]})
    return sum(len(ids) for ids in by_task.values())


@shared_task(name="campaigns.delivery.tasks.deliver_parked_sweep", acks_late=True)
def deliver_parked_sweep() -> int:
    """Beat: queue the parked retries whose time has come, and re-open the claims of workers that
    died mid-send (each delivery is handed out once: a conditional UPDATE takes it)."""
    from django.utils import timezone

    from . import status

    now = timezone.now()
    count = _queue_deliveries(status.deliveries_due(now=now))
    stale = now - timedelta(seconds=settings.PUSHDECK_CLAIM_TIMEOUT_SECONDS)
    return count + _queue_deliveries(status.deliveries_reopen_stale(older_than=stale))


@shared_task(name="campaigns.delivery.tasks.deliver_user_bound", acks_late=True)
def deliver_user_bound(app_id: int, user_id: str) -> int:
    """A binding appeared: send the user's messages that were waiting for one."""
    from campaigns.models import Message

    ids = selfbuilt.messages_for_new_binding(app_id=app_id, user_id=user_id)
    by_task: dict[int, list[int]] = {}
    for pk, task_id in Message.objects.filter(pk__any=Many(ids)).values_list("pk", "task_id"):
        by_task.setdefault(task_id, []).append(pk)
    for task_id, message_ids in by_task.items():
        deliver_chunk.apply_async(kwargs={"task_id": task_id, "message_ids": message_ids})
    return len(ids)


@shared_task(name="campaigns.delivery.tasks.deliver_task_stop", acks_late=True)
def deliver_task_stop(task_id: int) -> int:
    """Enqueue after setting a task STOPPED/CANCELLED: its open messages end CANCELLED."""
    return dispatch.task_stop_deliveries(task_id=task_id)


@shared_task(name="campaigns.delivery.tasks.deliver_expire_sweep", acks_late=True)
def deliver_expire_sweep() -> int:
    return selfbuilt.expire_due()


@shared_task(name="campaigns.delivery.tasks.deliver_sms_fallback", acks_late=True)
def deliver_sms_fallback(delivery_id: int) -> str:
    return sms.sms_fallback_send(delivery_id=delivery_id)


@shared_task(name="campaigns.delivery.tasks.deliver_sms_sweep", acks_late=True)
def deliver_sms_sweep() -> int:
    """Beat: queue the fallback SMS of every delivery whose delay has passed."""
    ids = sms.sms_due()
    for pk in ids:
        deliver_sms_fallback.delay(pk)
    return len(ids)


@shared_task(name="campaigns.delivery.tasks.send_receipts", acks_late=True)
def send_receipts(app_id: int, delivery_ids: list[int], attempt: int = 1) -> int:
    """POST one batch of an app's receipts; failures come back with backoff; every attempt is logged."""
    try:
        with receipt_slot(app_id), receipt_batch_lock(app_id, delivery_ids, attempt):
            result = receipts.receipts_send(app_id=app_id, delivery_ids=delivery_ids, attempt=attempt)
    except SlotsBusy:
        # The app already has its share of receipt workers (a slow endpoint): others go first.
        send_receipts.apply_async(args=(app_id, delivery_ids, attempt), countdown=settings.PUSHDECK_SLOT_RETRY_SECONDS)
        return 0
    later = backoff(attempt - 1, base=settings.PUSHDECK_CALLBACK_RETRY_BASE_SECONDS)
    if result.failed:
        send_receipts.apply_async(args=(app_id, result.failed, attempt + 1), countdown=later)
    if result.untried:
        send_receipts.apply_async(args=(app_id, result.untried, attempt), countdown=later)
    if result.gave_up:
        from campaigns.models import Delivery

        from .status import timeline_note

        for pk, message_id in Delivery.objects.filter(pk__in=result.gave_up).values_list("pk", "message_id"):
            timeline_note(
                message_id=message_id, delivery_id=pk, description=f"callback gave up after {attempt} attempts"
            )
    return len(result.sent)


@shared_task(name="campaigns.delivery.tasks.send_receipt", acks_late=True)
def send_receipt(delivery_id: int) -> int:
    """One receipt queued by an earlier release: sent as a batch of one."""
    from campaigns.models import Delivery

    app_id = Delivery.objects.filter(pk=delivery_id).values_list("message__app_id", flat=True).first()
    if app_id is None:
        return 0
    return send_receipts(app_id, [delivery_id])
