"""Data life: message rows older than the retention period are purged in batches,
and checked multiple push files not sent within a day lose their staged lines.

A message takes its deliveries, status events, receipt events, callback attempts
and SMS rows with it. Push tasks and their counters stay, and UsageRollup rows are
never touched, so the task list and usage analysis keep their figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from console.models import App

from .models import UPLOAD_SENDABLE, Delivery, Message, SendUpload, SendUploadRow, UploadStatus

logger = logging.getLogger(__name__)


@dataclass
class PurgeResult:
    messages: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        for label, n in counts.items():
            self.rows[label] = self.rows.get(label, 0) + n


# Rows of one table (deliveries, timeline entries, receipts) deleted per transaction, per message
# of a slice: an ordinary message has a handful, a broadcast millions.
CHILD_ROWS = 8


def _delete(queryset) -> int:
    # A plain DELETE ... WHERE: the ORM's cascade would first load every row it deletes.
    return queryset._raw_delete(queryset.db)


def _delete_some(model, lookup: dict, size: int) -> int:
    """DELETE at most `size` rows matching `lookup` (WHERE id IN (SELECT id ... LIMIT size))."""
    return _delete(model.objects.filter(pk__in=model.objects.filter(**lookup).values("pk")[:size]))


def _children(model) -> list:
    """(model, field name) of every table whose rows cascade from `model`'s."""
    return [
        (rel.related_model, rel.field.name)
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and getattr(rel, "on_delete", None) is models.CASCADE
    ]


def _purge_slice(message_ids: list[int], size: int, result: PurgeResult) -> None:
    """These messages and everything hanging off them, children first, in transactions of at most
    CHILD_ROWS rows per message per table: an ordinary slice is one transaction; a broadcast
    message's millions of deliveries, events and receipts go slice by slice, each committed.
    An interrupted run leaves no orphan row, and the next run goes on where it stopped."""
    message_children = [(m, name) for m, name in _children(Message) if m is not Delivery]
    # Rows that also name their message go with the message's rows; the rest by delivery.
    by_message = {m for m, _name in message_children}
    delivery_children = _children(Delivery)
    limit = size * CHILD_ROWS
    while True:
        with transaction.atomic():
            ids = list(Delivery.objects.filter(message_id__any=message_ids).values_list("pk", flat=True)[:limit])
            for child, name in delivery_children:
                if len(ids) == limit or child not in by_message:
                    result.add({child._meta.label: _delete(child.objects.filter(**{f"{name}__any": ids}))})
            result.add({Delivery._meta.label: _delete(Delivery.objects.filter(pk__any=ids))})
            if len(ids) == limit:
                continue  # a broadcast: next slice of its deliveries
            done = True
            for child, name in message_children:
                # A message has a handful of timeline entries and receipts; a broadcast, millions.
                n = _delete_some(child, {f"{name}__any": message_ids}, limit)
                result.add({child._meta.label: n})
                done = done and n < limit
            if done:
                result.add({Message._meta.label: _delete(Message.objects.filter(pk__any=message_ids))})
                return


def messages_purge(*, now: datetime | None = None, days: int | None = None, batch: int | None = None) -> PurgeResult:
    """Delete messages created before now - days, oldest first, `batch` messages at a time.

    Every slice commits on its own, so no transaction holds a big broadcast's rows and a
    dispatch running meanwhile is not held up."""
    now = now or timezone.now()
    days = settings.PUSHDECK_MESSAGE_RETENTION_DAYS if days is None else days
    batch = batch or settings.PUSHDECK_RETENTION_BATCH
    cutoff = now - timedelta(days=days)
    result = PurgeResult()
    # App by app, oldest first, along message_app_created (no index of its own to keep up on
    # every insert of a big send).
    for app_id in App.objects.order_by("pk").values_list("pk", flat=True):
        while True:
            ids = list(
                Message.objects.filter(app_id=app_id, created_at__lt=cutoff)
                .order_by("created_at", "pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            _purge_slice(ids, batch, result)
            result.messages += len(ids)
    if result.messages:
        logger.info(
            "retention: purged %d messages older than %s (%s)", result.messages, cutoff.isoformat(), result.rows
        )
    return result


# A checked multiple push file waits this long for its confirmation; then its staged lines go.
UPLOAD_KEEP = timedelta(days=1)


def uploads_expire(*, now: datetime | None = None) -> int:
    """Checked files not sent within UPLOAD_KEEP: marked expired (first, so a confirmation racing
    with this is refused) and their staged lines deleted. Returns how many files."""
    now = now or timezone.now()
    stale = SendUpload.objects.filter(status__in=UPLOAD_SENDABLE, created_at__lt=now - UPLOAD_KEEP)
    expired = 0
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            if SendUpload.objects.filter(pk=pk, status__in=UPLOAD_SENDABLE).update(status=UploadStatus.EXPIRED):
                SendUploadRow.objects.filter(upload_id=pk).delete()
                expired += 1
    if expired:
        logger.info("retention: %d checked files not sent within %s expired", expired, UPLOAD_KEEP)
    return expired


@shared_task(acks_late=True)
def purge_old_messages() -> int:
    """Beat, daily: message retention, unsent checked files, spent API nonces and old API rate windows."""
    from console.acs.door import purge_nonces as purge_door_nonces
    from console.apisign import purge_nonces
    from console.security.api import purge_rate_windows

    result = messages_purge()
    uploads_expire()
    purge_nonces()
    purge_door_nonces()
    purge_rate_windows(before=timezone.now() - timedelta(hours=1))
    return result.messages
