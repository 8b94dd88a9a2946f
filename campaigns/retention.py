"""Data life: message rows older than the retention period are purged in batches,
and checked multiple push files not sent within a day lose their staged lines.

A message takes its deliveries, status events, receipt events, callback attempts
and SMS rows with it. Push tasks and their counters stay, and UsageRollup rows are
never touched, so the task list and usage analysis keep their figures.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from console.models import App

from .lookups import Many
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


def _delete_some(model, lookup: dict, size: int, *, returning: bool = False) -> int | list[int]:
    """DELETE at most `size` rows matching `lookup`: how many (`returning`: their ids). Not WHERE
    id IN (SELECT ... LIMIT): that is planned as a join over the whole table. On PostgreSQL, one
    statement, WHERE id = ANY(ARRAY(SELECT ... LIMIT)); elsewhere the ids first, then WHERE id
    IN (ids)."""
    some = model.objects.filter(**lookup).values("pk")[:size]
    if connection.vendor != "postgresql":
        ids = [row["pk"] for row in some]
        deleted = _delete(model.objects.filter(pk__any=Many(ids))) if ids else 0
        return ids if returning else deleted
    select, params = some.query.sql_with_params()
    quote = connection.ops.quote_name
    pk = quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {quote(model._meta.db_table)} WHERE {pk} = ANY(ARRAY({select}))"
            + (f" RETURNING {pk}" if returning else ""),
            params,
        )
        return [row[0] for row in cursor.fetchall()] if returning else cursor.rowcount


def _children(model) -> list:
    """(model, field name) of every table whose rows cascade from `model`'s."""
    return [
        (rel.related_model, rel.field.name)
        for rel in model._meta.get_fields(include_hidden=True)
        if rel.auto_created and not rel.concrete and getattr(rel, "on_delete", None) is models.CASCADE
    ]


def _by_index() -> None:
    """Costed one index probe per element, `col = ANY(thousands of ids)` looks dearer to the planner
    than reading the whole table (in parallel, taking the cores a dispatch runs on): at retention
    scale that is the whole history once per slice. Every statement of a slice has an index."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")


def _purge_slice(message_ids: list[int], size: int, result: PurgeResult) -> None:
    """These messages and everything hanging off them, in transactions of at most CHILD_ROWS rows
    per message per table: an ordinary slice is one transaction; a broadcast message's millions
    of deliveries, events and receipts go slice by slice, each committed. An interrupted run
    leaves no orphan row, and the next run goes on where it stopped.

    Deliveries go before the rows hanging off them: a device's receipt updates its delivery
    before it writes its timeline entry and receipt, so one that got in first has committed
    them by the time the delivery is deleted (and the statements after see them), and one that
    comes later finds no delivery. No table has a foreign key constraint on messages or
    deliveries (at commit, the checks of a slice's deleted parent rows, one per row per
    constraint, cost more than the deletes): this purge, and the ORM's cascade, are what delete
    the rows with their message."""
    message_children = [(m, name) for m, name in _children(Message) if m is not Delivery]
    # Rows that also name their message go with the message's rows; the rest by delivery.
    by_message = {m for m, _name in message_children}
    delivery_children = _children(Delivery)
    limit = size * CHILD_ROWS
    while True:
        with transaction.atomic():
            _by_index()
            ids = _delete_some(Delivery, {"message_id__any": Many(message_ids)}, limit, returning=True)
            if ids:
                result.add({Delivery._meta.label: len(ids)})
                for child, name in delivery_children:
                    if len(ids) == limit or child not in by_message:
                        result.add({child._meta.label: _delete(child.objects.filter(**{f"{name}__any": Many(ids)}))})
            if len(ids) == limit:
                continue  # a broadcast: next slice of its deliveries
            done = True
            for child, name in message_children:
                # A message has a handful of timeline entries and receipts; a broadcast, millions.
                n = _delete_some(child, {f"{name}__any": Many(message_ids)}, limit)
                result.add({child._meta.label: n})
                done = done and n < limit
            if done:
                result.add({Message._meta.label: _delete(Message.objects.filter(pk__any=Many(message_ids)))})
                return


def messages_purge(
    *, now: datetime | None = None, days: int | None = None, batch: int | None = None, pause: float | None = None
) -> PurgeResult:
    """Delete messages created before now - days, oldest first, `batch` messages at a time.

    Every slice commits on its own, so no transaction holds a big broadcast's rows and a
    dispatch running meanwhile is not held up; after each, the purge rests `pause` times as
    long as the slice took, so the dispatch keeps most of the machine's cores."""
    now = now or timezone.now()
    days = settings.PUSHDECK_MESSAGE_RETENTION_DAYS if days is None else days
    batch = batch or settings.PUSHDECK_RETENTION_BATCH
    pause = settings.PUSHDECK_RETENTION_PAUSE if pause is None else pause
    cutoff = now - timedelta(days=days)
    result = PurgeResult()
    # App by app, oldest first, along message_app_time (no index of its own to keep up on
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
            started = time.monotonic()
            _purge_slice(ids, batch, result)
            result.messages += len(ids)
            if pause > 0:
                time.sleep((time.monotonic() - started) * pause)
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
