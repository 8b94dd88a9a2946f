"""Usage rollups: counters per minute and hour bucket, bumped as statuses change.

Analysis reads these, never the message table. Day buckets are summed from hour
buckets in the viewer's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import Granularity, UsageRollup

FIGURES = ("pushed", "arrived", "opened", "ignored", "cleared")


def _buckets(at: datetime) -> list[tuple[str, datetime]]:
    at = at.astimezone(UTC) if timezone.is_aware(at) else timezone.make_aware(at, UTC)
    minute = at.replace(second=0, microsecond=0)
    return [(Granularity.MINUTE, minute), (Granularity.HOUR, minute.replace(minute=0))]


def rollup_add(
    *,
    app_id: int,
    at: datetime,
    platform: str = "",
    app_version: str = "",
    channel: str = "",
    push_type: str = "",
    **counts: int,
) -> None:
    """Add `counts` (pushed=1, arrived=1, ...) to the minute and hour buckets of `at`."""
    counts = {k: v for k, v in counts.items() if v}
    unknown = set(counts) - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown rollup figures: {sorted(unknown)}")
    if not counts:
        return
    dims = {"platform": platform, "app_version": app_version[:40], "channel": channel, "push_type": push_type}
    for granularity, bucket in _buckets(at):
        if connection.vendor == "postgresql":
            _upsert_pg(app_id, granularity, bucket, dims, counts)
        else:
            with transaction.atomic():
                row, _created = UsageRollup.objects.select_for_update().get_or_create(
                    app_id=app_id, granularity=granularity, bucket=bucket, **dims
                )
                UsageRollup.objects.filter(pk=row.pk).update(**{k: F(k) + v for k, v in counts.items()})


def _upsert_pg(app_id, granularity, bucket, dims, counts) -> None:
    columns = ["app_id", "granularity", "bucket", *dims, *FIGURES]
    values = [app_id, granularity, bucket, *dims.values(), *(counts.get(f, 0) for f in FIGURES)]
    updates = ", ".join(f"{f} = console_rollup.{f} + EXCLUDED.{f}" for f in counts)
    table = UsageRollup._meta.db_table
    sql = (
        f"INSERT INTO {table} AS console_rollup ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(values))}) "
        f"ON CONFLICT (app_id, granularity, bucket, platform, app_version, channel, push_type) "
        f"DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
