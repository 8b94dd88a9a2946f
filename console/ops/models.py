"""What the operations endpoints read: worker heartbeats and shared counters."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """The last time a worker answered a ping on a queue (one row per queue and worker)."""

    queue = models.CharField(max_length=64)
    hostname = models.CharField(max_length=200)
    last_seen_at = models.DateTimeField(default=timezone.now)
    pings = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["queue", "hostname"]
        constraints = [models.UniqueConstraint(fields=["queue", "hostname"], name="heartbeat_unique_queue_host")]

    def __str__(self) -> str:
        return f"{self.hostname} on {self.queue}"


class MetricCounter(models.Model):
    """A counter shared by every process when the broker is not Redis (embedded default)."""

    name = models.CharField(max_length=100)
    labels = models.CharField(max_length=300)
    value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"], name="metric_counter_unique")]
