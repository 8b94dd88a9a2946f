"""Bench the report views at 5 million messages, 20 million deliveries and 5 million receipts.

Creates its own PostgreSQL database (``bench_views``), migrates it, loads tasks and
5,000,000 messages spread over 30 days with COPY, then with generate_series 400,000
devices, 20,000,000 deliveries (one per message, the rest spread over the broadcasts),
5,000,000 receipt events and the timeline of one broadcast; derives the usage rollups and
the per-send channel counters as the engine keeps them. Prints p50/p95 server time (Django
test client, in process: middleware, queries, template) of the message list first page, a
deep page, a customer message id search, the task list, usage analysis for 90 days by day
and one day by minute, push records, the receipt log (first page, by device, by message),
troubleshooting and the detail of a broadcast message, then the EXPLAIN of the retention
and expiry sweeps, and the load average. Drops the database at the end (``--keep`` keeps it;
``--reuse`` measures a database an earlier ``--keep`` run left, after migrating it).
BENCH_MESSAGES, BENCH_DELIVERIES and BENCH_RECEIPTS scale the volumes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/views.py
"""

from __future__ import annotations

import io
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BENCH_DB = os.environ.get("BENCH_DB", "bench_views")
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "5000000"))
DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "20000000"))
RECEIPTS = int(os.environ.get("BENCH_RECEIPTS", "5000000"))
DEVICES = 400_000
BROADCASTS = 500
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
DAYS = 30


def _admin_dsn() -> str:
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    return (
        f"host={url.hostname or '127.0.0.1'} port={url.port or 5432} user={url.username or 'postgres'} dbname=postgres"
    )


def _recreate_db() -> None:
    import psycopg

    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def _drop_db() -> None:
    import psycopg

    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def _setup_django() -> None:
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    os.environ["DATABASE_URL"] = url._replace(path=f"/{BENCH_DB}").geturl()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()


CHANNELS_ANDROID = ("selfbuilt", "huawei", "xiaomi", "fcm")
VERSIONS = ("1.0.0", "1.1.0", "2.0.0")


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for n, row in enumerate(rows, 1):
            buffer.write("\t".join(row))
            buffer.write("\n")
            if n % 50_000 == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def _load(app_id: int, user_id: int, now: datetime) -> dict:
    """Tasks and messages through COPY; indexes rebuilt afterwards as they would be in production."""
    from django.db import connection

    rng = random.Random(7)
    start = now - timedelta(days=DAYS)
    span = DAYS * 86400
    # 40% in multiple tasks of 1,000 lines, 500 broadcasts, the rest simple/template sends of 50.
    multiples = max(1, MESSAGES * 2 // 5 // 1000)
    plan: list[tuple[str, int]] = [("MULTIPLE", 1000)] * multiples + [("BROADCAST", 1)] * BROADCASTS
    rest = MESSAGES - multiples * 1000 - BROADCASTS
    plan += [("SIMPLE" if i % 2 else "TEMPLATE", 50) for i in range(rest // 50)]
    rng.shuffle(plan)
    tasks = []
    for i, (ptype, size) in enumerate(plan, 1):
        created = start + timedelta(seconds=rng.random() * span)
        tasks.append((i, ptype, size, created))

    def task_rows():
        for pk, ptype, size, created in tasks:
            at = created.isoformat()
            fin = (created + timedelta(seconds=size // 10 + 5)).isoformat()
            yield (
                str(pk), str(app_id), f"Console {created:%Y-%m-%d %H:%M:%S}", ptype, "console", str(user_id), "",
                "{}", "finished", "", at, at, fin, str(size), str(size), str(size), str(size), str(size), "0",
                str(size * 9 // 10), str(size * 3 // 10),
            )  # fmt: skip

    task_cols = [
        "id", "app_id", "name", "push_type", "source", "created_by_id", "api_caller", "params", "status",
        "status_reason", "created_at", "started_at", "finished_at", "total_rows", "ingested_rows", "target_count",
        "pushed", "succeeded", "failed", "arrived", "opened",
    ]  # fmt: skip

    def message_rows():
        pk = 0
        for task_pk, ptype, size, created in tasks:
            for j in range(size):
                pk += 1
                at = created + timedelta(milliseconds=j * 5)
                ios = pk % 3 == 0
                platform = "ios" if ios else "android"
                channel = "apns" if ios else CHANNELS_ANDROID[pk % 4]
                ttype = "all" if ptype == "BROADCAST" else ("ios_device" if ios else "android_device")
                state, status = ("accepted", "2") if pk % 10 < 8 else ("expired", "0")
                yield (
                    str(pk), str(app_id), str(task_pk), f"cm{pk:010d}", ptype, ttype,
                    "" if ptype == "BROADCAST" else f"d{pk % 400_000:08d}", platform, "Sale starts today",
                    "Up to 50% off", "{}", at.isoformat(), (at + timedelta(seconds=180)).isoformat(), state, status,
                    "", (at + timedelta(seconds=2)).isoformat(), channel,
                )  # fmt: skip

    msg_cols = [
        "id", "app_id", "task_id", "customer_msg_id", "push_type", "target_type", "target_id", "platform", "title",
        "body", "payload", "created_at", "expires_at", "state", "status", "status_desc", "status_changed_at", "channel",
    ]  # fmt: skip

    with connection.cursor() as cur:
        raw = cur.cursor
        raw.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'campaigns_message' "
            "AND indexname NOT LIKE '%%pkey'"
        )
        indexes = raw.fetchall()
        raw.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'campaigns_message'::regclass AND contype = 'u'"
        )
        uniques = raw.fetchall()
        for name, _ in uniques:
            raw.execute(f"ALTER TABLE campaigns_message DROP CONSTRAINT {name}")
        for name, _ in indexes:
            raw.execute(f"DROP INDEX IF EXISTS {name}")
        t0 = time.perf_counter()
        _copy(raw, "campaigns_pushtask", task_cols, task_rows())
        _copy(raw, "campaigns_message", msg_cols, message_rows())
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for name, definition in uniques:
            raw.execute(f"ALTER TABLE campaigns_message ADD CONSTRAINT {name} {definition}")
        for name, definition in indexes:
            if not any(name == u for u, _ in uniques):
                raw.execute(definition)
        raw.execute("SELECT setval('campaigns_message_id_seq', (SELECT max(id) FROM campaigns_message))")
        raw.execute("SELECT setval('campaigns_pushtask_id_seq', (SELECT max(id) FROM campaigns_pushtask))")
        index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        # Rollups as the engine keeps them: hour and minute buckets per dimension.
        # Versions spread by id; opened/ignored/cleared derived deterministically.
        for gran in ("hour", "minute"):
            raw.execute(
                f"""
                INSERT INTO campaigns_usagerollup
                  (app_id, granularity, bucket, platform, app_version, channel, push_type,
                   pushed, arrived, opened, ignored, cleared)
                SELECT app_id, '{gran}', date_trunc('{gran}', created_at), platform,
                       (ARRAY['1.0.0','1.1.0','2.0.0'])[1 + id % 3], channel, push_type,
                       count(*),
                       count(*) FILTER (WHERE state = 'accepted'),
                       count(*) FILTER (WHERE state = 'accepted' AND id % 7 < 2),
                       count(*) FILTER (WHERE state = 'accepted' AND channel = 'selfbuilt' AND id % 7 = 3),
                       count(*) FILTER (WHERE state = 'accepted' AND id % 7 = 4)
                FROM campaigns_message GROUP BY 1, 2, 3, 4, 5, 6, 7
                """
            )
        rollup_s = time.perf_counter() - t0
        raw.execute("VACUUM ANALYZE campaigns_message")
        raw.execute("VACUUM ANALYZE campaigns_pushtask")
        raw.execute("VACUUM ANALYZE campaigns_usagerollup")
        raw.execute("SELECT count(*) FROM campaigns_message")
        count = raw.fetchone()[0]
        raw.execute("SELECT count(*) FROM campaigns_usagerollup")
        rollups = raw.fetchone()[0]
    return {"messages": count, "tasks": len(tasks), "rollups": rollups, "copy_s": load_s, "index_s": index_s,
            "rollup_s": rollup_s}  # fmt: skip


def _drop_indexes(raw, table: str) -> tuple[list, list]:
    """Drop a table's indexes and unique constraints before a bulk load; give back their definitions."""
    raw.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT LIKE '%%pkey'", [table]
    )
    indexes = raw.fetchall()
    raw.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'",
        [table],
    )
    uniques = raw.fetchall()
    for name, _ in uniques:
        raw.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for name, _ in indexes:
        raw.execute(f"DROP INDEX IF EXISTS {name}")
    return indexes, uniques


def _restore_indexes(raw, table: str, indexes: list, uniques: list) -> None:
    for name, definition in uniques:
        raw.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    for name, definition in indexes:
        if not any(name == u for u, _ in uniques):
            raw.execute(definition)


def _load_fleet(app_id: int) -> dict:
    """Devices, deliveries, receipts and one broadcast's timeline with generate_series, in the database;
    then the per-send channel counters the engine would have kept."""
    from django.db import connection
    from sqlfill import rest

    from campaigns.models import Delivery, Device

    with connection.cursor() as cur:
        raw = cur.cursor
        t0 = time.perf_counter()
        given = "app_id, device_id, platform, apns_token, app_version"
        more_columns, more_values = rest(Device, given)
        raw.execute(
            f"INSERT INTO campaigns_device ({given}{more_columns}) "
            "SELECT %s, 'd' || lpad(g::text, 8, '0'), CASE WHEN g %% 3 = 0 THEN 'ios' ELSE 'android' END, "
            f"md5(g::text), (ARRAY['1.0.0','1.1.0','2.0.0'])[1 + g %% 3]{more_values} "
            "FROM generate_series(0, %s - 1) g",
            [app_id, DEVICES],
        )
        raw.execute("SELECT min(id) FROM campaigns_device WHERE app_id = %s", [app_id])
        first_device = raw.fetchone()[0]
        indexes, uniques = _drop_indexes(raw, "campaigns_delivery")
        columns = (
            "message_id, device_id, channel, state, status, gateway_reason, push_id, attempts, created_at, "
            "updated_at, accepted_at, arrived_at, clicked_at, cleared_at"
        )
        more_columns, more_values = rest(Delivery, columns)
        columns += more_columns
        # accepted: sent; ~90% arrived, ~30% clicked, ~10% cleared, spread by id.
        values = (
            "m.channel, m.state, m.status, '', gen_random_uuid(), 1, m.created_at, m.status_changed_at, "
            "CASE WHEN m.state = 'accepted' THEN m.status_changed_at END, "
            "CASE WHEN m.state = 'accepted' AND (m.id + g) %% 10 < 9 THEN m.status_changed_at END, "
            "CASE WHEN m.state = 'accepted' AND (m.id + g) %% 10 < 3 THEN m.status_changed_at END, "
            "CASE WHEN m.state = 'accepted' AND (m.id + g) %% 10 = 3 THEN m.status_changed_at END" + more_values
        )
        raw.execute(
            f"INSERT INTO campaigns_delivery ({columns}) SELECT m.id, %s + m.id %% %s, {values} "
            "FROM campaigns_message m, (SELECT 0 AS g) z WHERE m.push_type <> 'BROADCAST'",
            [first_device, DEVICES],
        )
        raw.execute("SELECT count(*) FROM campaigns_message WHERE push_type <> 'BROADCAST'")
        per_broadcast = min(DEVICES, max(0, DELIVERIES - raw.fetchone()[0]) // BROADCASTS)
        raw.execute(
            f"INSERT INTO campaigns_delivery ({columns}) SELECT m.id, %s + g, {values} "
            "FROM campaigns_message m, generate_series(0, %s - 1) g WHERE m.push_type = 'BROADCAST'",
            [first_device, per_broadcast],
        )
        raw.execute(
            "INSERT INTO campaigns_receiptevent (app_id, message_id, device_id, event, channel, at) "
            "SELECT %s, message_id, device_id, (ARRAY['sent','arrive','click','clean'])[1 + id %% 4], channel, "
            "coalesce(arrived_at, created_at) + (id %% 4) * interval '1 minute' "
            "FROM campaigns_delivery WHERE accepted_at IS NOT NULL LIMIT %s",
            [app_id, RECEIPTS],
        )
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _restore_indexes(raw, "campaigns_delivery", indexes, uniques)
        index_s = time.perf_counter() - t0
        raw.execute(
            "SELECT id FROM campaigns_message WHERE push_type = 'BROADCAST' AND state = 'accepted' "
            "ORDER BY created_at DESC LIMIT 1"
        )
        broadcast = raw.fetchone()[0]
        raw.execute(
            "INSERT INTO campaigns_statusevent (message_id, delivery_id, at, state, status, description, channel) "
            "SELECT message_id, id, updated_at, state, status, '', channel FROM campaigns_delivery "
            "WHERE message_id = %s",
            [broadcast],
        )
        t0 = time.perf_counter()
        raw.execute(
            "INSERT INTO campaigns_taskchannelcount (task_id, channel, sent, arrived, clicked, cleared) "
            "SELECT m.task_id, d.channel, count(d.accepted_at), count(d.arrived_at), count(d.clicked_at), "
            "count(d.cleared_at) FROM campaigns_delivery d JOIN campaigns_message m ON m.id = d.message_id "
            "GROUP BY 1, 2"
        )
        counters_s = time.perf_counter() - t0
        for table in ("device", "delivery", "receiptevent", "statusevent", "taskchannelcount"):
            raw.execute(f"VACUUM ANALYZE campaigns_{table}")
        counts = {}
        for table in ("delivery", "receiptevent"):
            raw.execute(f"SELECT count(*) FROM campaigns_{table}")
            counts[table] = raw.fetchone()[0]
    return {**counts, "per_broadcast": per_broadcast, "broadcast": broadcast, "load_s": load_s,
            "index_s": index_s, "counters_s": counters_s}  # fmt: skip


def _explain_sweeps(now: datetime) -> None:
    """The plans of the sweeps: retention walks message_app_time, expiry message_expiry_open."""
    from django.db.models import Q

    from campaigns.models import Delivery, Message, MessageState

    cutoff = now - timedelta(days=30)
    app_id = Message.objects.values_list("app_id", flat=True).first()
    retention = (
        Message.objects.filter(app_id=app_id, created_at__lt=cutoff).order_by("created_at", "pk").values_list("pk")
    )[:2000]
    expiry = (
        Delivery.objects.filter(
            Q(state__in=[MessageState.QUEUED, MessageState.WAITING])
            | Q(state=MessageState.SENDING, updated_at__lt=now - timedelta(hours=1)),
            message__expires_at__lte=now,
        )
        .values_list("pk", "status")
        .order_by("pk")[:5000]
    )
    stale = Message.objects.filter(expires_at__lte=now, deliveries__isnull=True)
    no_bind = stale.filter(state=MessageState.WAITING).values_list("pk")[:5000]
    lost = stale.filter(
        state__in=[MessageState.QUEUED, MessageState.SENDING], status_changed_at__lt=now - timedelta(hours=1)
    ).values_list("pk")[:5000]
    for label, queryset in (
        ("retention slice", retention),
        ("expiry sweep, deliveries", expiry),
        ("expiry sweep, waiting messages", no_bind),
        ("expiry sweep, lost messages", lost),
    ):
        plan = queryset.explain()
        print(f"EXPLAIN {label}:")
        for line in plan.splitlines():
            print("   ", line)


def _measure(client, url: str, runs: int = RUNS) -> tuple[float, float, float]:
    """p50 and p95 of the whole request, and the p50 of its SQL time alone."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, sql = [], []
    for i in range(runs + 3):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(url() if callable(url) else url)
            elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200, (url, response.status_code)
        if i >= 3:  # warm-up
            times.append(elapsed)
            sql.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], statistics.median(sql)


def main() -> None:
    keep = "--keep" in sys.argv or "--reuse" in sys.argv
    reuse = "--reuse" in sys.argv
    if not reuse:
        _recreate_db()
    _setup_django()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from campaigns.models import Message
    from campaigns.reports.selectors import encode_cursor
    from console.models import App, Membership, Role, UserProfile

    setup_test_environment()
    try:
        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        if reuse:
            from django.db.models import Max

            from campaigns.models import StatusEvent

            user = get_user_model().objects.get(username="bench")
            app = App.objects.get(name="Bench")
            latest = Message.objects.aggregate(top=Max("pk"), at=Max("created_at"))
            figures = {"messages": latest["top"]}
            fleet = {"broadcast": StatusEvent.objects.values_list("message_id", flat=True).first()}
            now = latest["at"]
            print(f"reusing {BENCH_DB}: {figures['messages']:,} messages, broadcast {fleet['broadcast']}", flush=True)
        else:
            user = get_user_model().objects.create_user("bench", password="bench-password-1")
            UserProfile.objects.create(user=user, timezone="Europe/Berlin")
            app = App.objects.create(name="Bench")
            Membership.objects.create(user=user, app=app, role=Role.MARKETER)
            now = datetime.now(UTC)
            figures = _load(app.pk, user.pk, now)
            print(
                f"loaded {figures['messages']:,} messages, {figures['tasks']:,} tasks, {figures['rollups']:,} rollup rows "
                f"(COPY {figures['copy_s']:.0f}s, indexes {figures['index_s']:.0f}s, rollups {figures['rollup_s']:.0f}s)",
                flush=True,
            )
            fleet = _load_fleet(app.pk)
            print(
                f"loaded {fleet['delivery']:,} deliveries ({fleet['per_broadcast']:,} per broadcast), "
                f"{fleet['receiptevent']:,} receipts (generate_series {fleet['load_s']:.0f}s, indexes "
                f"{fleet['index_s']:.0f}s, channel counters {fleet['counters_s']:.0f}s)",
                flush=True,
            )
        client = Client()
        client.force_login(user)
        base = f"/apps/{app.app_key}/"
        deep = (
            Message.objects.filter(
                app=app, push_type__in=["SIMPLE", "TEMPLATE"], created_at__lt=now - timedelta(days=25)
            )
            .order_by("-created_at", "-id")
            .first()
        )
        deep_cursor = encode_cursor(deep.created_at, deep.pk)
        rng = random.Random(11)
        top = figures["messages"]

        def search_url():
            return f"{base}messages/?" + urlencode({"customer_msg_id": f"cm{rng.randint(1, top):010d}"})

        day_end = now.replace(second=0, microsecond=0)
        cases = [
            ("baseline: device query form, no lookup", f"{base}devices/"),
            ("message list, first page", f"{base}messages/"),
            ("message list, deep page (25 days back)", f"{base}messages/?cursor={deep_cursor}"),
            ("search by customer message id", search_url),
            ("task list", f"{base}tasks/"),
            (
                "usage analysis, 90 days by day",
                f"{base}analysis/?"
                + urlencode(
                    {
                        "start": (now - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"),
                        "end": now.strftime("%Y-%m-%dT%H:%M"),
                        "granularity": "day",
                    }
                ),
            ),
            (
                "usage analysis, 1 day by minute",
                f"{base}analysis/?"
                + urlencode(
                    {
                        "start": (day_end - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
                        "end": day_end.strftime("%Y-%m-%dT%H:%M"),
                        "granularity": "minute",
                    }
                ),
            ),
        ]
        broadcast = Message.objects.get(pk=fleet["broadcast"])
        device_ids = [f"d{n:08d}" for n in range(0, DEVICES, 997)]

        def receipts_by_device_url():
            return f"{base}receipts/?" + urlencode({"device_id": rng.choice(device_ids)})

        def receipts_by_message_url():
            return f"{base}receipts/?" + urlencode({"message_id": rng.randint(1, top)})

        def troubleshoot_url():
            return f"{base}troubleshoot/?" + urlencode({"message_ref": f"cm{rng.randint(1, top):010d}"})

        cases += [
            ("push records, first page", f"{base}push-records/"),
            ("receipt log, first page", f"{base}receipts/"),
            ("receipt log, by device", receipts_by_device_url),
            ("receipt log, by message", receipts_by_message_url),
            ("troubleshooting, a message", troubleshoot_url),
            ("troubleshooting, a broadcast", f"{base}troubleshoot/?" + urlencode({"message_ref": broadcast.pk})),
            (
                "troubleshooting, a broadcast on one device",
                f"{base}troubleshoot/?" + urlencode({"message_ref": broadcast.pk, "device_id": "d00012345"}),
            ),
            ("message detail, a broadcast", f"{base}messages/{broadcast.pk}/"),
        ]
        print(f"{'view':45s} {'p50 ms':>8s} {'p95 ms':>8s} {'SQL p50':>8s}   ({RUNS} runs each, test client)")
        for label, url in cases:
            p50, p95, sql = _measure(client, url)
            print(f"{label:45s} {p50:8.1f} {p95:8.1f} {sql:8.1f}", flush=True)
        with connection.cursor() as cur:
            cur.execute(
                "EXPLAIN SELECT id FROM campaigns_message WHERE app_id = %s AND created_at >= %s "
                "AND push_type IN ('SIMPLE', 'TEMPLATE', 'CONTINUOUS') ORDER BY created_at DESC, id DESC LIMIT 51",
                [app.pk, now - timedelta(days=30)],
            )
            print("EXPLAIN message list:", " / ".join(r[0].strip() for r in cur.fetchall()[:3]))
        _explain_sweeps(now)
        print(f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs", flush=True)
    finally:
        connection.close()
        if not keep:
            _drop_db()


if __name__ == "__main__":
    main()
