"""The index migrations (0021, 0022) apply, unapply and apply again, on PostgreSQL (each index
built and dropped CONCURRENTLY, outside a transaction) and on the embedded SQLite, and leave
the indexes each end names."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]

OLD = {"message_app_created", "message_list_default", "task_app_created", "receipt_app_at_id", "delivery_state_channel"}
NEW = {"message_app_time", "message_list_time", "task_app_time", "task_created_by", "receipt_app_time"}
LIST = """
from django.db import connection
with connection.cursor() as cursor:
    for table in ("campaigns_message", "campaigns_pushtask", "campaigns_receiptevent", "campaigns_delivery", "campaigns_device"):
        for name, info in connection.introspection.get_constraints(cursor, table).items():
            if info["index"] and not info["primary_key"]:
                print(name)
"""


def _run(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _round_trip(env: dict) -> None:
    _run(env, "migrate", "--noinput")
    after = set(_run(env, "shell", "-c", LIST).split())
    assert after >= NEW and not after & OLD, after
    assert not any(name.startswith(("campaigns_device_app_id_", "campaigns_pushtask_app_id_")) for name in after)

    _run(env, "migrate", "campaigns", "0020", "--noinput")
    before = set(_run(env, "shell", "-c", LIST).split())
    assert before >= OLD and not before & NEW, before
    # The foreign keys' own indexes are back, under the names Django gives them.
    assert any(name.startswith("campaigns_device_app_id_") for name in before), before
    assert any(name.startswith("campaigns_receiptevent_message_id_") for name in before), before

    _run(env, "migrate", "--noinput")
    assert set(_run(env, "shell", "-c", LIST).split()) == after


def _env(tmp_path: Path, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY")}
    env.update(PUSHDECK_VAR_DIR=str(tmp_path), DEBUG="true", DATABASE_URL=database_url)
    env["DJANGO_SETTINGS_MODULE"] = "console.settings"
    return env


def test_the_index_migrations_go_back_and_forth_on_sqlite(tmp_path):
    _round_trip(_env(tmp_path, f"sqlite:///{tmp_path / 'm.sqlite3'}"))


def test_the_index_migrations_go_back_and_forth_on_postgresql(tmp_path):
    url = urlparse(os.environ.get("DATABASE_URL", ""))
    if url.scheme not in ("postgres", "postgresql"):
        pytest.skip("runs against the PostgreSQL of DATABASE_URL")
    admin = f"host={url.hostname} port={url.port or 5432} user={url.username or 'postgres'} dbname=postgres"
    name = f"pd_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        _round_trip(_env(tmp_path, url._replace(path=f"/{name}").geturl()))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
