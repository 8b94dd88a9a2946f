"""What the benches share: the production-like environment of the processes they start,
percentiles, free ports, CPU accounting from /proc (Linux) and the removal of a run's rows."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def database_url() -> str:
    """The URL of the database this bench is connected to, for the processes it starts."""
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def production_env(**extra: str) -> dict[str, str]:
    """Started processes run as in production (DEBUG off, so no query log) on this database and
    broker, with this bench's secrets; the loopback, where the fakes listen, is allowed past the
    outbound guard. `extra` adds or overrides settings."""
    env = dict(
        os.environ,
        DATABASE_URL=database_url(),
        DEBUG="false",
        OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8,::1/128",
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=",".join(settings.FIELD_ENCRYPTION_KEYS),
    )
    env.update(extra)
    return env


def admin_dsn() -> str:
    """The server of DATABASE_URL, its maintenance database (to create and drop a bench's own)."""
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return (
        f"host={url.hostname or '127.0.0.1'} port={url.port or 5432} user={url.username or 'postgres'} dbname=postgres"
    )


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def recreate_database(name: str) -> None:
    """A new empty database `name` on the same server; DATABASE_URL points at it from now on."""
    import psycopg

    drop_database(name)
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    os.environ["DATABASE_URL"] = url._replace(path=f"/{name}").geturl()


def analyze(*models, vacuum: bool = False) -> None:
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f'{"VACUUM " if vacuum else ""}ANALYZE "{model._meta.db_table}"')


def delete_run(app, *querysets, also_vacuum=()) -> None:
    """A run's rows by plain DELETEs, children first (the ORM's cascade would load every row
    first), then its app. Statistics first: if autoanalyze has not seen the run's rows yet, the
    joins are planned for empty tables (nested loops over every row, minutes for 100,000). And
    no dead rows left behind: the next run would pay for them (autovacuum during the run)."""
    models = [queryset.model for queryset in querysets]
    analyze(*models)
    for queryset in querysets:
        queryset._raw_delete(queryset.db)
    app.delete()
    analyze(*models, *also_vacuum, vacuum=True)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid: str | int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (a server or worker and its children)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(entry)
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[2] is pgrp (after state, ppid)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def command_cpu(name: str) -> dict[int, float]:
    """CPU seconds (user + system) of each live process whose command is `name` (e.g. postgres),
    with that of its children that ended: PostgreSQL's backends of closed connections (a worker
    connects per task) and its autovacuum workers count in the postmaster's."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() != name:
                    continue
            fields = _stat_fields(entry)
        except OSError:
            continue
        found[int(entry)] = sum(int(v) for v in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two `command_cpu` readings by the processes alive at the second (a process
    that ended meanwhile counts in its parent's, when that parent is one of them)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores; /proc/stat, not idle or iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def process_cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_until_up(base: str, timeout: float = 60) -> None:
    """Until the server started at `base` answers /healthz (exits the bench if it never does)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.5)
