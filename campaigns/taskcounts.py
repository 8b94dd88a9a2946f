"""Per-send, per-channel counters of the push records page (TaskChannelCount), bumped as
delivery timestamps are first set. One multi-row upsert per call on PostgreSQL."""

from __future__ import annotations

from collections import Counter

from django.db import connection, transaction
from django.db.models import F

from .models import TaskChannelCount

FIGURES = ("sent", "arrived", "clicked", "cleared")


def task_channel_add(counts: dict[tuple[int, str], Counter]) -> None:
    """Add {(task_id, channel): Counter(sent=.., arrived=..)} to the counters, in key order
    (concurrent workers lock the same rows in the same order)."""
    rows = [(key, c) for key, c in sorted(counts.items()) if any(c.values())]
    if not rows:
        return
    unknown = {f for _key, c in rows for f in c} - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for (task_id, channel), c in rows:
                TaskChannelCount.objects.get_or_create(task_id=task_id, channel=channel)
                TaskChannelCount.objects.filter(task_id=task_id, channel=channel).update(
                    **{f: F(f) + n for f, n in c.items()}
                )
        return
    table = TaskChannelCount._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    params = [v for (task_id, channel), c in rows for v in (task_id, channel, *(c.get(f, 0) for f in FIGURES))]
    updates = ", ".join(f"{f} = t.{f} + EXCLUDED.{f}" for f in FIGURES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS t (task_id, channel, {', '.join(FIGURES)}) VALUES {values} "
            f"ON CONFLICT (task_id, channel) DO UPDATE SET {updates}",
            params,
        )
