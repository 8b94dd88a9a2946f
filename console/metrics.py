"""Prometheus metrics at /metrics, and the counters the delivery engine feeds.

Counters must add up across web processes, workers and machines, so they live in
Redis when the broker is Redis (HINCRBY, one round trip) and in the database
otherwise. Gauges (queue depth, certificate days left, worker heartbeats) are read
at scrape time.
"""

from __future__ import annotations

import json
import logging
from functools import cache

from django.conf import settings
from django.db import connection
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

REDIS_KEY = "pushdeck:metrics:{name}"
DELIVERIES = "deliveries"
ACCEPTED = "accepted"


@cache
def _redis():
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)


def _uses_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))


def _labels_key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def counter_add(name: str, labels: dict[str, str], amount: int = 1) -> None:
    """Add to a shared counter; never raises (metrics must not break a send)."""
    key = _labels_key(labels)
    try:
        if _uses_redis():
            _redis().hincrby(REDIS_KEY.format(name=name), key, amount)
            return
        from console.ops.models import MetricCounter

        table = MetricCounter._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (name, labels, value) VALUES (%s, %s, %s) "  # noqa: S608 - our table
                f"ON CONFLICT (name, labels) DO UPDATE SET value = {table}.value + EXCLUDED.value",
                [name, key, amount],
            )
    except Exception:  # noqa: BLE001
        logger.warning("could not update metric %s", name, exc_info=True)


def counter_values(name: str) -> dict[str, int]:
    if _uses_redis():
        raw = _redis().hgetall(REDIS_KEY.format(name=name))
        return {k.decode(): int(v) for k, v in raw.items()}
    from console.ops.models import MetricCounter

    return dict(MetricCounter.objects.filter(name=name).values_list("labels", "value"))


def record_delivery(channel: str, outcome: str, code: str | int = "") -> None:
    """Count one delivery attempt. outcome: "accepted" or "error" (code = the gateway's code)."""
    counter_add(DELIVERIES, {"channel": str(channel), "outcome": str(outcome), "code": str(code)})


def record_deliveries(counts: dict[tuple[str, str, str], int]) -> None:
    """Count many outcomes at once: {(channel, outcome, code): n}."""
    for (channel, outcome, code), amount in counts.items():
        counter_add(DELIVERIES, {"channel": str(channel), "outcome": str(outcome), "code": str(code)}, amount)


def queue_depths() -> dict[str, int | None]:
    """Messages waiting per Celery queue (None when the broker cannot be asked)."""
    from kombu.exceptions import ChannelError

    from .celery import app as celery_app

    depths: dict[str, int | None] = {}
    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            channel = conn.default_channel
            for queue in settings.PUSHDECK_QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:
                    depths[queue] = 0  # never declared: nothing waits on it
    except Exception:  # noqa: BLE001
        logger.warning("could not read queue depths", exc_info=True)
        return {queue: None for queue in settings.PUSHDECK_QUEUES}
    return depths


class PushdeckCollector:
    def collect(self):
        from console.models import ApnsCertificate
        from console.ops.models import WorkerHeartbeat

        deliveries = CounterMetricFamily(
            "pushdeck_deliveries",
            "Delivery attempts by channel, outcome and code",
            labels=["channel", "outcome", "code"],
        )
        errors = CounterMetricFamily(
            "pushdeck_gateway_errors", "Gateway errors by channel and code", labels=["channel", "code"]
        )
        for key, value in sorted(counter_values(DELIVERIES).items()):
            labels = json.loads(key)
            deliveries.add_metric([labels["channel"], labels["outcome"], labels["code"]], value)
            if labels["outcome"] != ACCEPTED:
                errors.add_metric([labels["channel"], labels["code"]], value)
        yield deliveries
        yield errors

        refusals = CounterMetricFamily(
            "pushdeck_api_refusals",
            "Refused signed API calls by API kind, resultCode and HTTP status",
            labels=["kind", "code", "status"],
        )
        for key, value in sorted(counter_values("api_refusals").items()):
            labels = json.loads(key)
            refusals.add_metric([labels["kind"], labels["code"], labels["status"]], value)
        yield refusals

        depth = GaugeMetricFamily("pushdeck_queue_depth", "Messages waiting per Celery queue", labels=["queue"])
        for queue, count in queue_depths().items():
            if count is not None:
                depth.add_metric([queue], count)
        yield depth

        now = timezone.now()
        certs = GaugeMetricFamily(
            "pushdeck_apns_certificate_days_left",
            "Days until the active APNs certificate expires",
            labels=["app_key", "topic", "environment"],
        )
        for cert in ApnsCertificate.objects.filter(is_active=True).select_related("app"):
            certs.add_metric([cert.app.app_key, cert.topic, cert.environment], cert.days_left(now))
        yield certs

        seen = GaugeMetricFamily(
            "pushdeck_worker_last_seen_seconds",
            "Seconds since a worker answered a heartbeat on a queue",
            labels=["queue", "hostname"],
        )
        for beat in WorkerHeartbeat.objects.all():
            seen.add_metric([beat.queue, beat.hostname], (now - beat.last_seen_at).total_seconds())
        yield seen


def render_metrics() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PushdeckCollector())
    return generate_latest(registry)
