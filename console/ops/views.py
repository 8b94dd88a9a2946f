"""Readiness and Prometheus metrics endpoints."""

from __future__ import annotations

import hmac
import ipaddress
import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from console.metrics import render_metrics
from console.security.clientip import client_address

from .models import WorkerHeartbeat

# Building a migration plan reads every migration file: /readyz is unauthenticated, so the
# answer is cached. Once everything is applied it stays so for the life of the process (a new
# release starts new processes); a pending answer is checked again after this many seconds.
MIGRATION_RECHECK_SECONDS = 30.0
_migration_check = {"applied": None, "at": 0.0}
_migration_lock = threading.Lock()


def reset_migration_check() -> None:
    _migration_check.update(applied=None, at=0.0)


def _migrations_applied(connection) -> bool:
    with _migration_lock:
        applied, at = _migration_check["applied"], _migration_check["at"]
        if applied or (applied is False and time.monotonic() - at < MIGRATION_RECHECK_SECONDS):
            return applied
        executor = MigrationExecutor(connection)
        applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
        _migration_check.update(applied=applied, at=time.monotonic())
        return applied


def _database_ok() -> tuple[bool, bool]:
    """(reachable, every migration applied)."""
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, _migrations_applied(connection)
    except Exception:  # noqa: BLE001 - report, never raise, from a probe
        return False, False


def _broker_ok() -> bool:
    from console.celery import app as celery_app

    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return True
    except Exception:  # noqa: BLE001
        return False


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to take traffic: database reachable, migrations applied (cached), broker reachable.

    Worker heartbeats are reported (seconds since each queue was last served) but do
    not make the web process unready: the web can take sends while workers restart.
    """
    reachable, migrated = _database_ok()
    checks = {
        "database": "ok" if reachable else "unreachable",
        "migrations": "ok" if migrated else ("pending" if reachable else "unknown"),
        "broker": "ok" if _broker_ok() else "unreachable",
    }
    workers: dict[str, float] = {}
    if reachable:
        now = timezone.now()
        for beat in WorkerHeartbeat.objects.all():
            age = round((now - beat.last_seen_at).total_seconds(), 1)
            workers[beat.queue] = min(age, workers.get(beat.queue, age))
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not ready", **checks, "queues_last_served_seconds_ago": workers}
    return JsonResponse(body, status=200 if ok else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    try:
        ip = ipaddress.ip_address(client_address(request))
        return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)
    except ValueError:
        return False


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; needs `Authorization: Bearer $METRICS_TOKEN` or an allowed address."""
    if not _metrics_allowed(request):
        return HttpResponse("metrics: forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")
