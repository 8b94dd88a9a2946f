"""Helpers of the hardening tests: production-like subprocess environments, TOTP codes, a worker fleet."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.workers import start_worker

ROOT = Path(__file__).resolve().parents[2]
PYTHON_BIN = Path(sys.executable).parent


def totp(secret_b32: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 TOTP (HMAC-SHA1), computed here independently of django-otp."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_url() -> str:
    """The URL of the test database pytest-django created (subprocesses must use it)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env(tmp_path: Path, *, production: bool, **overrides: str) -> dict[str, str]:
    """The environment a deployed process gets: same DB and broker as the test, own var dir."""
    # DJANGO_ALLOW_ASYNC_UNSAFE is for the Playwright tests only; a deployed process never has it.
    drop = ("DEBUG", "TEST_DATABASE_NAME", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        {
            "PATH": f"{PYTHON_BIN}:{env.get('PATH', '')}",
            "PUSHDECK_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "console.settings",
            # The fakes listen on the loopback: allow it, as the tests' own settings do.
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            # The same keys as this process, so secrets written here can be read there.
            "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        }
    )
    if production:
        env.update({"DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost", "STATIC_ROOT": str(tmp_path / "static")})
    else:
        env["DEBUG"] = "true"
    env.update(overrides)
    return env


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class Fleet:
    """Celery worker subprocesses, each on its own queues, as separate machines would run them."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, queues: list[str], **env_overrides: str) -> str:
        hostname = f"{name}@fleet-test"
        log = self.tmp_path / f"{name}.log"
        env = subprocess_env(self.tmp_path / name, production=False, **env_overrides)
        (self.tmp_path / name).mkdir(exist_ok=True)
        self.procs[hostname] = start_worker(
            env,
            queues=",".join(queues),
            pool="solo",
            hostname=hostname,
            loglevel="INFO",
            heartbeat=True,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.logs[hostname] = log
        return hostname

    def log_of(self, hostname: str) -> str:
        return self.logs[hostname].read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        from console.celery import app as celery_app

        def all_answer():
            for hostname, proc in self.procs.items():
                assert proc.poll() is None, f"{hostname} exited:\n{self.logs[hostname].read_text()[-3000:]}"
            replies = celery_app.control.ping(destination=list(self.procs), timeout=1.0) or []
            answered = {name for reply in replies for name in reply}
            return answered >= set(self.procs)

        assert wait_until(all_answer, timeout=timeout, interval=0.5), "workers did not come up: " + "; ".join(
            log.read_text()[-2000:] for log in self.logs.values()
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def fleet(tmp_path, transactional_db):
    """fleet.start(name, queues) -> hostname; the workers share the test PostgreSQL DB and Redis."""
    assert settings.CELERY_BROKER_URL.startswith(("redis://", "amqp://")), "the fleet needs a real broker"
    from console.celery import app as celery_app

    for queue in settings.PUSHDECK_QUEUES:
        # Leftovers of an earlier run must not be counted.
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.default_channel.queue_purge(queue)
    instance = Fleet(tmp_path)
    yield instance
    instance.stop()
