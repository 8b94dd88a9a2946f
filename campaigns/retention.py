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
from django.db import transaction
from django.utils import timezone

from .models import UPLOAD_SENDABLE, Delivery, Message, SendUpload, SendUploadRow, UploadStatus

logger = logging.getLogger(__name__)


@dataclass
class PurgeResult:
    messages: int = 0
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        for label, n in counts.items():
            self.rows[label] = self.rows.get(label, 0) + n


def _delete_deliveries(message_ids: list[int], batch: int, result: PurgeResult) -> None:
    # A broadcast message may have millions of deliveries: delete them in slices too.
    while True:
        ids = list(Delivery.objects.filter(message_id__in=message_ids).values_list("pk", flat=True)[:batch])
        if not ids:
            return
        _total, counts = Delivery.objects.filter(pk__in=ids).delete()
        result.add(counts)


def messages_purge(*, now: datetime | None = None, days: int | None = None, batch: int | None = None) -> PurgeResult:
    """Delete messages created before now - days, oldest first, `batch` messages per transaction."""
    now = now or timezone.now()
    days = settings.PUSHDECK_MESSAGE_RETENTION_DAYS if days is None else days
    batch = batch or settings.PUSHDECK_RETENTION_BATCH
    cutoff = now - timedelta(days=days)
    result = PurgeResult()
    while True:
        with transaction.atomic():
            ids = list(
                Message.objects.filter(created_at__lt=cutoff)
                .order_by("created_at", "pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            _delete_deliveries(ids, batch, result)
            _total, counts = Message.objects.filter(pk__in=ids).delete()
            result.add(counts)
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
