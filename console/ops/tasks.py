"""Worker heartbeats: every queue is pinged so /readyz and /metrics show who consumes what."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .models import WorkerHeartbeat


def heartbeat_record(*, queue: str, hostname: str) -> None:
    """Upsert the (queue, worker) row and count the ping."""
    updated = WorkerHeartbeat.objects.filter(queue=queue, hostname=hostname).update(
        last_seen_at=timezone.now(), pings=F("pings") + 1
    )
    if not updated:
        WorkerHeartbeat.objects.get_or_create(queue=queue, hostname=hostname, defaults={"pings": 1})


@shared_task(bind=True, acks_late=True)
def ping_worker(self, queue: str) -> str:
    """Record which worker took this ping from `queue`; returns the worker's name."""
    hostname = self.request.hostname or "unknown"
    heartbeat_record(queue=queue, hostname=hostname)
    return hostname


@shared_task(acks_late=True)
def ping_workers() -> None:
    """Beat: one ping per workload queue; a queue nobody consumes shows an ageing heartbeat."""
    for queue in settings.PUSHDECK_QUEUES:
        ping_worker.apply_async(args=[queue], queue=queue, expires=120)
