"""Operations: readiness, Prometheus metrics, JSON logs, production serving with gunicorn + whitenoise."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.metrics import record_delivery
from console.models import ApnsCertificate
from console.ops.logs import JsonFormatter
from console.ops.models import WorkerHeartbeat
from console.ops.views import reset_migration_check

from .conftest import ROOT, free_port, subprocess_env, wait_until


@pytest.mark.django_db
def test_readyz_checks_database_migrations_and_broker(client):
    WorkerHeartbeat.objects.create(queue="dispatch", hostname="w1@host", last_seen_at=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert (body["database"], body["migrations"], body["broker"]) == ("ok", "ok", "ok")
    assert 0 <= body["queues_last_served_seconds_ago"]["dispatch"] < 60


@pytest.mark.django_db
def test_readyz_is_not_ready_with_a_pending_migration(client):
    reset_migration_check()
    MigrationRecorder.Migration.objects.filter(app="ops").delete()  # rolled back with the test
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "pending"
    reset_migration_check()


@pytest.mark.django_db
def test_readyz_caches_the_migration_check(client):
    """The plan is built once: later calls do not read the migration table again."""
    reset_migration_check()
    with CaptureQueriesContext(connection) as first:
        assert client.get("/readyz").json()["migrations"] == "ok"
    with CaptureQueriesContext(connection) as second:
        assert client.get("/readyz").json()["migrations"] == "ok"
    assert any("django_migrations" in q["sql"] for q in first.captured_queries)
    assert not any("django_migrations" in q["sql"] for q in second.captured_queries)
    # Applied stays applied for the process: a rolled-back record does not flip it.
    MigrationRecorder.Migration.objects.filter(app="ops").delete()
    assert client.get("/readyz").json()["migrations"] == "ok"
    reset_migration_check()


@pytest.mark.django_db
def test_readyz_is_not_ready_without_the_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unreachable"


@pytest.mark.django_db
def test_metrics_need_the_token_or_an_allowed_address(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics"
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.django_db
def test_metrics_show_queues_deliveries_errors_and_certificates(client, settings, app):
    from console.celery import app as celery_app
    from console.metrics import DELIVERIES, REDIS_KEY, _redis

    settings.METRICS_TOKEN = "t"
    _redis().delete(REDIS_KEY.format(name=DELIVERIES))
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        # Leftovers of an earlier test or run (e.g. a stopped worker's restored messages) must not count.
        for queue in ("rollups", "dispatch"):
            conn.default_channel.queue_purge(queue)
    # Two messages wait on the rollups queue (no worker runs here).
    for _ in range(2):
        celery_app.send_task("campaigns.rollup_metrics_probe", queue="rollups")
    record_delivery("apns", "accepted", "")
    record_delivery("apns", "accepted", "")
    record_delivery("fcm", "error", 90000003)
    now = timezone.now()
    ApnsCertificate.objects.create(
        app=app, p12=b"x", environment="production", topic="com.example.app", subject="s", issuer="i",
        serial="1", not_before=now - timedelta(days=300), not_after=now + timedelta(days=12, hours=1),
        fingerprint="f", is_active=True,
    )  # fmt: skip
    WorkerHeartbeat.objects.create(queue="ingest", hostname="w1@host", last_seen_at=now - timedelta(seconds=90))

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t")
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.content.decode())
    assert samples['pushdeck_queue_depth{queue="rollups"}'] == 2
    assert samples['pushdeck_queue_depth{queue="dispatch"}'] == 0
    assert samples['pushdeck_deliveries_total{channel="apns",code="",outcome="accepted"}'] == 2
    assert samples['pushdeck_deliveries_total{channel="fcm",code="90000003",outcome="error"}'] == 1
    assert samples['pushdeck_gateway_errors_total{channel="fcm",code="90000003"}'] == 1
    assert not any(k.startswith('pushdeck_gateway_errors_total{channel="apns"') for k in samples)
    key = f'pushdeck_apns_certificate_days_left{{app_key="{app.app_key}",environment="production",topic="com.example.app"}}'
    assert samples[key] == 12
    assert 89 <= samples['pushdeck_worker_last_seen_seconds{hostname="w1@host",queue="ingest"}'] < 150
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.default_channel.queue_purge("rollups")


@pytest.mark.django_db
def test_delivery_counters_fall_back_to_the_database_without_redis(settings):
    from console.metrics import DELIVERIES, counter_values

    settings.CELERY_BROKER_URL = "filesystem://"
    record_delivery("huawei", "error", 80000003)
    record_delivery("huawei", "error", 80000003)
    assert counter_values(DELIVERIES) == {'{"channel":"huawei","code":"80000003","outcome":"error"}': 2}


def test_json_log_lines():
    record = logging.LogRecord("pushdeck.test", logging.WARNING, __file__, 1, "sent %d", (3,), None)
    record.status_code = 503
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "sent 3" and entry["level"] == "WARNING" and entry["logger"] == "pushdeck.test"
    assert entry["status_code"] == 503 and entry["time"].endswith("+00:00")


def test_log_format_json_is_used_by_a_deployed_process(tmp_path):
    code = "import django, logging; django.setup(); logging.getLogger('pushdeck.probe').warning('hello %s', 'ops')"
    env = subprocess_env(tmp_path, production=False, LOG_FORMAT="json", DJANGO_SETTINGS_MODULE="console.settings")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    entry = json.loads(out.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello ops" and entry["logger"] == "pushdeck.probe"
    env["LOG_FORMAT"] = "xml"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "LOG_FORMAT must be plain or json" in out.stderr


def _gunicorn(tmp_path, env: dict[str, str], *, workers: int) -> tuple[subprocess.Popen, int]:
    """The README's production web command on a free port of the loopback."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:console.gunicorn_conf", "console.asgi:application"]
    command += ["-k", "uvicorn.workers.UvicornWorker"]
    command += ["-b", f"127.0.0.1:{port}", "-w", str(workers), "--access-logfile", "-"]
    log = (tmp_path / "gunicorn.log").open("w")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), port


def _database_sessions() -> int:
    """Connections ever opened to the test database (PostgreSQL counts them per database)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.slow
@pytest.mark.django_db
def test_the_web_keeps_a_pool_of_database_connections(tmp_path):
    """DB_POOL_SIZE: 60 requests that each read the database open a few connections, not 60."""
    server, port = _gunicorn(tmp_path, subprocess_env(tmp_path, production=True, DB_POOL_SIZE="2"), workers=2)
    base = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(up, timeout=60), (tmp_path / "gunicorn.log").read_text()[-3000:]
        before = _database_sessions()
        with httpx.Client(base_url=base, timeout=10) as web:
            answers = [web.get("/readyz").json()["database"] for _ in range(60)]
        opened = _database_sessions() - before
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert answers == ["ok"] * 60
    assert opened <= 4, opened  # at most DB_POOL_SIZE per worker


@pytest.mark.slow
@pytest.mark.django_db
def test_gunicorn_serves_the_console_and_static_files_in_production(tmp_path):
    env = subprocess_env(
        tmp_path, production=True, SECURE_HTTPS="true", BEHIND_PROXY="true", METRICS_TOKEN="m", LOG_FORMAT="json"
    )
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert collect.returncode == 0, collect.stderr
    server, port = _gunicorn(tmp_path, env, workers=2)
    base = f"http://127.0.0.1:{port}"
    https = {"X-Forwarded-Proto": "https"}
    try:

        def up():
            try:
                return httpx.get(f"{base}/healthz", headers=https, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(up, timeout=60), (tmp_path / "gunicorn.log").read_text()[-3000:]
        with httpx.Client(base_url=base, headers=https, timeout=10) as web:
            health = web.get("/healthz")
            assert health.json() == {"status": "ok"}
            assert health.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
            assert web.get("/readyz").json()["status"] == "ready"

            css = web.get("/static/css/pushdeck.css")
            assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
            gz = web.get("/static/css/pushdeck.css", headers={"Accept-Encoding": "gzip"})
            assert gz.headers.get("Content-Encoding") == "gzip"

            login = web.get("/accounts/login/")
            assert login.status_code == 200 and "Sign in to Pushdeck" in login.text
            assert "script-src 'self'" in login.headers["Content-Security-Policy"]
            cookie = login.headers["Set-Cookie"]
            assert "csrftoken=" in cookie and "Secure" in cookie

            assert web.get("/metrics", headers={"Authorization": "Bearer m"}).status_code == 200
            assert web.get("/metrics").status_code == 403
            assert web.get("/nothing-here").status_code == 404  # DEBUG is off: no debug page
        # Plain HTTP is redirected to HTTPS.
        plain = httpx.get(f"{base}/accounts/login/", timeout=10)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    finally:
        server.terminate()
        server.wait(timeout=20)
