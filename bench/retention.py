"""Retention at volume while a dispatch runs.

Creates its own PostgreSQL database (``bench_retention``), migrates it and loads, with
generate_series, 1,000,000 messages 40 days old, each with its delivery, two status events
(the delivery's and the message's) and a receipt event. Then starts the fake APNs and real
Celery workers (as bench/dispatch.py does) and measures the dispatch rate of fresh tasks:
``--runs`` runs before, back-to-back runs while ``messages_purge`` deletes the old messages
(those the purge lasted through), and ``--runs`` runs after. Prints messages deleted per
second (the purge's pauses included), every run's rate, the median rate during the purge
against the median of the runs before and after (the in-run baseline), and the load average. Drops the database at the end
(``--keep`` keeps it).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python bench/retention.py --messages 1000000 --dispatch 20000
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
from common import drop_database, recreate_database  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB", "bench_retention")


def _load_old(count: int) -> dict:
    """`count` messages 40 days old with a delivery, two timeline entries and a receipt each."""
    from django.db import connection
    from sqlfill import rest

    from campaigns.models import Delivery, Device, PushTask
    from console.models import App

    app = App.objects.create(name="Old sends")
    task = PushTask.objects.create(app=app, name="old", push_type="MULTIPLE", source="api", status="finished")
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        given = "app_id, device_id, platform, apns_token"
        more_columns, more_values = rest(Device, given)
        cur.execute(
            f"INSERT INTO campaigns_device ({given}{more_columns}) "
            f"SELECT %s, 'old' || g, 'ios', md5(g::text){more_values} FROM generate_series(1, 1000) g",
            [app.pk],
        )
        cur.execute("SELECT min(id) FROM campaigns_device WHERE app_id = %s", [app.pk])
        first_device = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO campaigns_message (app_id, task_id, customer_msg_id, push_type, target_type, target_id, "
            "platform, title, body, payload, created_at, expires_at, state, status, status_desc, "
            "status_changed_at, channel) "
            "SELECT %s, %s, 'old-' || g, 'MULTIPLE', 'ios_device', 'old' || (1 + g %% 1000), 'ios', 'Sale', "
            "'Up to 50%% off', '{}', now() - interval '40 days' + g * interval '1 ms', "
            "now() - interval '39 days', 'accepted', 2, '', now() - interval '40 days', 'apns' "
            "FROM generate_series(1, %s) g",
            [app.pk, task.pk, count],
        )
        given = "message_id, device_id, channel, state, status, created_at, updated_at, accepted_at, arrived_at"
        more_columns, more_values = rest(Delivery, given)
        cur.execute(
            f"INSERT INTO campaigns_delivery ({given}{more_columns}) "
            "SELECT id, %s + (id %% 1000), 'apns', 'accepted', 2, created_at, created_at, created_at, created_at"
            f"{more_values} FROM campaigns_message WHERE task_id = %s",
            [first_device, task.pk],
        )
        cur.execute(
            "INSERT INTO campaigns_statusevent (message_id, delivery_id, at, state, status, description, channel) "
            "SELECT message_id, id, created_at, 'accepted', 2, '', 'apns' FROM campaigns_delivery "
            "WHERE device_id BETWEEN %s AND %s "
            "UNION ALL SELECT id, NULL, created_at, 'accepted', 2, '', 'apns' FROM campaigns_message "
            "WHERE task_id = %s",
            [first_device, first_device + 999, task.pk],
        )
        cur.execute(
            "INSERT INTO campaigns_receiptevent (app_id, message_id, device_id, event, channel, at) "
            "SELECT %s, message_id, device_id, 'sent', 'apns', created_at FROM campaigns_delivery "
            "WHERE device_id BETWEEN %s AND %s",
            [app.pk, first_device, first_device + 999],
        )
        load_s = time.perf_counter() - t0
        for table in ("message", "delivery", "statusevent", "receiptevent", "device"):
            cur.execute(f"VACUUM ANALYZE campaigns_{table}")
        counts = {}
        for table in ("message", "delivery", "statusevent", "receiptevent"):
            cur.execute(f"SELECT count(*) FROM campaigns_{table}")
            counts[table] = cur.fetchone()[0]
    return {"load_s": load_s, **counts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000, help="old messages to purge")
    parser.add_argument("--dispatch", type=int, default=20_000, help="messages of each dispatch run")
    parser.add_argument("--runs", type=int, default=2, help="dispatch runs before and after the purge")
    parser.add_argument("--keep", action="store_true")
    args, rest = parser.parse_known_args()
    recreate_database(BENCH_DB)
    # bench/dispatch.py sets Django up on import, on the database named by DATABASE_URL (ours now);
    # its own options (pool, workers, concurrency, chunk, batch) are accepted here too.
    sys.argv = [sys.argv[0], *rest]
    import dispatch as d
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        print(f"loading {args.messages:,} old messages with their deliveries and events ...", flush=True)
        loaded = _load_old(args.messages)
        print(
            f"loaded {loaded['message']:,} messages, {loaded['delivery']:,} deliveries, "
            f"{loaded['statusevent']:,} status events, {loaded['receiptevent']:,} receipts in {loaded['load_s']:.0f}s",
            flush=True,
        )
        _run(args, d)
    finally:
        connection.close()
        if not args.keep:
            drop_database(BENCH_DB)


def _run(args, d) -> None:
    import redis
    from django.conf import settings
    from django.db import connection

    from campaigns.delivery.tasks import dispatch_task
    from campaigns.models import PushTask, TaskStatus
    from campaigns.retention import messages_purge

    options = d.parse_args()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    pki = d.make_pki()
    fake_process, url, stats = d.serve_in_process(pki, require_client_cert=True, max_streams=1000)
    env = d.worker_env(options, url, pki)
    workers = d.start_workers(options, env)
    runs = {"before": args.runs, "during": args.runs + 3, "after": args.runs}
    tasks = {name: [d.create_data(args.dispatch, pki)[1] for _ in range(n)] for name, n in runs.items()}

    def dispatch(task) -> float:
        started = time.monotonic()
        dispatch_task.delay(task.pk)
        while PushTask.objects.filter(pk=task.pk).values_list("status", flat=True).get() != TaskStatus.FINISHED:
            time.sleep(0.1)
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a worker died")
        return args.dispatch / (time.monotonic() - started)

    purge: dict = {}

    def purge_in_thread() -> None:
        started = time.monotonic()
        try:
            purge["result"] = messages_purge(days=30)
        finally:
            purge["seconds"] = time.monotonic() - started
            connection.close()

    during: list[float] = []
    try:
        time.sleep(4)
        before = [dispatch(t) for t in tasks["before"]]
        loads = [os.getloadavg()[0]]
        thread = threading.Thread(target=purge_in_thread)
        thread.start()
        # Back to back while the purge runs; a run the purge did not last through does not count
        # (unless it is the only one).
        for task in tasks["during"]:
            rate = dispatch(task)
            if thread.is_alive() or not during:
                during.append(rate)
            if not thread.is_alive():
                break
        loads.append(os.getloadavg()[0])
        during_done_at = time.monotonic()
        thread.join()
        purge_tail = time.monotonic() - during_done_at
        loads.append(os.getloadavg()[0])
        after = [dispatch(t) for t in tasks["after"]]
        loads.append(os.getloadavg()[0])
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
            w.wait()
        stats.stop()
    result = purge["result"]
    baseline = statistics.median(before + after)
    rate = statistics.median(during)

    def rates(values: list[float]) -> str:
        return ", ".join(f"{v:,.0f}" for v in values)

    print()
    print(
        f"workers: {options.workers} x {options.pool} {options.concurrency}; load average "
        f"{' / '.join(f'{x:.1f}' for x in loads)} (before, during, end of purge, after) on {os.cpu_count()} CPUs"
    )
    print(
        f"retention: {result.messages:,} messages in {purge['seconds']:.1f}s = "
        f"{result.messages / purge['seconds']:,.0f} messages/s (rows: "
        + ", ".join(f"{label.split('.')[-1]} {n:,}" for label, n in sorted(result.rows.items()))
        + f"); it ran {purge_tail:.1f}s past the last dispatch run"
    )
    print(
        f"dispatch of {args.dispatch:,} messages per run, messages/s: before {rates(before)}; during the purge "
        f"{rates(during)}; after {rates(after)}; median during / median before and after = "
        f"{rate:,.0f} / {baseline:,.0f} = {rate / baseline:.2f} (slowed {max(0.0, 1 - rate / baseline) * 100:.0f}%)",
        flush=True,
    )


if __name__ == "__main__":
    main()
