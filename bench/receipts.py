"""Delivery receipts throughput: real Celery workers POSTing signed receipts to a local receiver.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your db> CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        python bench/receipts.py --count 100000 --workers 2 --concurrency 2

Creates a throwaway app with a callback URL and its console key pair, COUNT accepted deliveries
(devices, messages and deliveries by INSERT ... SELECT generate_series), and queues their
receipts in batches exactly as recording the deliveries does. Starts the receiver
(tests/fakes/callback.py: HTTP/1.1 keep-alive, checks every `sign` against the public key) in
its own process and real Celery worker processes on the `receipts` queue. Prints receipts/s
from the first queued batch to the last receipt logged, the valid/distinct counts at the
receiver, the logged attempts, the CPU each part spent per receipt (workers, receiver,
PostgreSQL, Redis, the whole machine) and the load average. Everything it created is deleted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from common import (  # noqa: E402
    command_cpu,
    cpu_spent,
    delete_run,
    group_cpu_seconds,
    machine_busy_seconds,
    process_cpu_seconds,
    production_env,
)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.models import CallbackAttempt, Delivery, Device, Message, PushTask, TaskStatus  # noqa: E402
from console.keys import generate_rsa_pair  # noqa: E402
from console.models import App, KeyConfig  # noqa: E402
from tests.fakes.callback import serve_in_process  # noqa: E402
from tests.workers import start_worker  # noqa: E402


def create_data(count: int, url: str, private_pem: str, public_pem: str) -> tuple[App, list[int]]:
    app = App.objects.create(name=f"bench receipts {uuid.uuid4().hex[:6]}")
    KeyConfig.objects.update_or_create(
        app=app,
        defaults={
            "callback_enabled": True,
            "callback_url": url,
            "console_private_key": private_pem,
            "console_public_key": public_pem,
        },
    )
    task = PushTask.objects.create(
        app=app, name="bench", push_type="MULTIPLE", source="api", target_count=count, status=TaskStatus.FINISHED
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaigns_device (device_id, platform, manufacturer, package_name, vendor, vendor_token, "
            "apns_token, fcm_token, app_version, account, phone_number, online, logged_in, token_dead_reason, "
            "is_test_device, created_at, app_id, apns_environment, client_secret) "
            "SELECT 'r' || lpad(i::text, 7, '0'), 'ios', '', '', '', '', md5(i::text) || md5(i::text), '', '1.0', "
            "'', '', false, false, '', false, %s, %s, 'production', '' FROM generate_series(1, %s) AS i",
            [now, app.pk, count],
        )
        cursor.execute(
            "INSERT INTO campaigns_message (customer_msg_id, push_type, target_type, target_id, platform, title, "
            "body, payload, created_at, expires_at, state, status, status_desc, status_changed_at, channel, "
            "app_id, task_id) "
            "SELECT 'rb-' || i, 'MULTIPLE', 'ios_device', 'r' || lpad(i::text, 7, '0'), 'ios', 'Bench', 'Hello', "
            "'{}', %s, %s, 'accepted', 2, '', %s, 'apns', %s, %s FROM generate_series(1, %s) AS i",
            [now, now + dt.timedelta(hours=1), now, app.pk, task.pk, count],
        )
        cursor.execute(
            "INSERT INTO campaigns_delivery (channel, state, status, gateway_reason, push_id, attempts, created_at, "
            "updated_at, accepted_at, device_id, message_id) "
            "SELECT 'apns', 'accepted', 2, '', gen_random_uuid(), 1, %s, %s, %s, d.id, m.id "
            "FROM campaigns_message m JOIN campaigns_device d ON d.app_id = m.app_id AND d.device_id = m.target_id "
            "WHERE m.task_id = %s RETURNING id",
            [now, now, now, task.pk],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    return app, ids


def delete_data(app: App) -> None:
    delete_run(
        app,
        CallbackAttempt.objects.filter(app=app),
        Delivery.objects.filter(message__app=app),
        Message.objects.filter(app=app),
        Device.objects.filter(app=app),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size of each worker")
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--batch", type=int, default=settings.PUSHDECK_CALLBACK_BATCH)
    args = parser.parse_args()

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    private_pem, public_pem = generate_rsa_pair()
    receiver, url, stats = serve_in_process(public_pem)
    print(f"creating {args.count} accepted deliveries ...", flush=True)
    app, ids = create_data(args.count, url, private_pem, public_pem)
    env = production_env(PUSHDECK_CALLBACK_APP_TASKS=str(args.workers * args.concurrency))
    workers: list[subprocess.Popen] = []
    from campaigns.delivery.tasks import send_receipts

    try:
        workers = [
            start_worker(env, queues="receipts", concurrency=args.concurrency, pool=args.pool, start_new_session=True)
            for _ in range(args.workers)
        ]
        time.sleep(4)
        load_before = os.getloadavg()[0]
        cpu_before = (
            sum(group_cpu_seconds(w.pid) for w in workers),
            process_cpu_seconds(receiver.pid),
            command_cpu("postgres"),
            command_cpu("redis-server"),
            machine_busy_seconds(),
        )
        started = time.monotonic()
        for i in range(0, len(ids), args.batch):
            send_receipts.delay(app.pk, ids[i : i + args.batch])
        queued = time.monotonic() - started
        while stats()["received"] < args.count:
            time.sleep(0.2)
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a worker died")
            if time.monotonic() - started > 1800:
                raise SystemExit("gave up after 30 minutes")
        elapsed = time.monotonic() - started
        cpu_us = [
            (sum(group_cpu_seconds(w.pid) for w in workers) - cpu_before[0]) / args.count * 1e6,
            (process_cpu_seconds(receiver.pid) - cpu_before[1]) / args.count * 1e6,
            cpu_spent(cpu_before[2], command_cpu("postgres")) / args.count * 1e6,
            cpu_spent(cpu_before[3], command_cpu("redis-server")) / args.count * 1e6,
            (machine_busy_seconds() - cpu_before[4]) / args.count * 1e6,
        ]
        # The attempts are written when a batch ends: wait for the last one.
        while CallbackAttempt.objects.filter(app=app).count() < args.count:
            time.sleep(0.2)
        logged = time.monotonic() - started
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
            w.wait()
    received = stats()
    stats.stop()
    succeeded = CallbackAttempt.objects.filter(app=app, succeeded=True).count()
    print()
    print(
        f"receipts: {args.count}, workers: {args.workers} x {args.pool} {args.concurrency}, batch {args.batch}, "
        f"{settings.PUSHDECK_CALLBACK_CONCURRENCY} POSTs in flight per batch; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    print(
        f"receipts/s: {args.count / elapsed:,.0f} ({elapsed:.1f}s to the last receipt at the receiver; "
        f"queueing the batches took {queued:.1f}s; all attempts logged after {logged:.1f}s)"
    )
    print(
        f"receiver: {received['received']} POSTs, {received['valid']} with a valid sign, {received['invalid']} invalid, "
        f"{received['distinct']} distinct msgIds; attempts logged as succeeded: {succeeded}"
    )
    print(
        "CPU per receipt: workers {:.0f} us, receiver {:.0f} us, PostgreSQL {:.0f} us, Redis {:.0f} us, "
        "machine {:.0f} us (user + system, all processes)".format(*cpu_us)
    )
    print(f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    delete_data(app)


if __name__ == "__main__":
    main()
