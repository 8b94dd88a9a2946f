"""Delivery engine throughput: the real worker path against the local fake APNs over HTTP/2.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your db> CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        python bench/dispatch.py --count 100000      # the README's worker command (README_WORKER)
        python bench/dispatch.py --pool threads --concurrency 2 --workers 2    # or another pool to compare

Creates a throwaway app with COUNT iOS devices, an APNs certificate issued by a throwaway CA
(stored encrypted like a real upload) and one task of COUNT messages. Starts the fake APNs
(HTTP/2 + TLS, checking the client certificate) in its own process and real Celery worker
processes on the real broker, which build the real ApnsGateway through the factory and record
every status and timeline entry in PostgreSQL. Prints messages/s, p50/p99 enqueue-to-accepted
latency, the CPU the workers spent per message, and the bare HTTP/2 client
(bench/apns_baseline.py) sending the same number of requests to the same fake as the
baseline ratio. Everything it created in the database is deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import types
import uuid
from datetime import timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from common import (  # noqa: E402
    delete_run,
    group_cpu_seconds,
    machine_busy_seconds,
    percentile,
    process_cpu_seconds,
    production_env,
)
from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.models import (  # noqa: E402
    CallbackAttempt,
    Delivery,
    Device,
    Message,
    MessageState,
    PushTask,
    ReceiptEvent,
    StatusEvent,
    TaskStatus,
    UsageRollup,
)
from console.models import ApnsCertificate, App  # noqa: E402
from tests.fakes.apns import serve_in_process  # noqa: E402
from tests.fakes.pki import make_pki  # noqa: E402
from tests.workers import start_worker  # noqa: E402

TOPIC = "com.example.bench"


def create_data(count: int, pki) -> tuple[App, PushTask]:
    app = App.objects.create(name=f"bench {uuid.uuid4().hex[:6]}", ios_bundle_id=TOPIC)
    client = pki.client_cert(TOPIC)
    now = timezone.now()
    ApnsCertificate.objects.create(
        app=app,
        p12=client.p12,
        password=client.password,
        environment="production",
        topic=TOPIC,
        subject=f"Apple Push Services: {TOPIC}",
        issuer="Pushdeck Test CA",
        serial=str(client.cert.serial_number),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=300),
        fingerprint=uuid.uuid4().hex,
        is_active=True,
    )
    Device.objects.bulk_create(
        (Device(app=app, device_id=f"b{i:06d}", platform="ios", apns_token=uuid.uuid4().hex * 2) for i in range(count)),
        batch_size=5000,
    )
    task = PushTask.objects.create(
        app=app, name="bench", push_type="MULTIPLE", source="api", target_count=count, status=TaskStatus.QUEUED
    )
    Message.objects.bulk_create(
        (
            Message(
                app=app,
                task=task,
                customer_msg_id=f"bench-{task.pk}-{i}",
                push_type="MULTIPLE",
                target_type="ios_device",
                target_id=f"b{i:06d}",
                title="Bench",
                body="Hello",
                expires_at=now + timedelta(hours=1),
            )
            for i in range(count)
        ),
        batch_size=5000,
    )
    return app, task


def bare_client_rate(url: str, pki, count: int) -> float:
    """The baseline: bench/apns_baseline.py's bare h2 client, 100 streams on one connection."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from apns_baseline import _bare

    from campaigns.gateways.apns import p12_to_pem
    from campaigns.gateways.http import H2Connection, ssl_context

    settings.GATEWAY_CA_BUNDLE = pki.ca_file
    client = pki.client_cert(TOPIC)
    cert_pem, key_pem = p12_to_pem(client.p12, client.password)
    context = ssl_context(cert_pem=cert_pem, key_pem=key_pem, http2=True)
    args = types.SimpleNamespace(count=count, streams=100, connections=1)
    return asyncio.run(_bare(args, url, context, H2Connection))


def callback_receiver(app: App):
    """A local receipt endpoint (tests/fakes/callback.py) as the app's callback URL; its stats()."""
    from console.keys import generate_rsa_pair
    from console.models import KeyConfig
    from tests.fakes.callback import serve_in_process as serve_receipts

    private_pem, public_pem = generate_rsa_pair()
    _process, url, stats = serve_receipts(public_pem)
    KeyConfig.objects.update_or_create(
        app=app,
        defaults={
            "callback_enabled": True,
            "callback_url": url,
            "console_private_key": private_pem,
            "console_public_key": public_pem,
        },
    )
    return stats


# The dispatch worker command README.md tells people to run ("Running a fleet of workers");
# with no options the bench starts exactly this (tests/hardening/test_worker_command.py keeps
# them equal).
README_WORKER = "celery -A console worker -Q dispatch -P prefork -c 4"


def _readme_option(flag: str) -> str:
    words = README_WORKER.split()
    return words[words.index(flag) + 1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (celery worker commands)")
    parser.add_argument(
        "--concurrency", type=int, default=int(_readme_option("-c")), help="pool size of each worker (README's)"
    )
    parser.add_argument("--pool", default=_readme_option("-P"), help="celery pool: prefork, threads, solo (README's)")
    parser.add_argument("--queues", default=_readme_option("-Q"), help="queues each worker takes (README's)")
    parser.add_argument("--chunk", type=int, default=settings.PUSHDECK_CHUNK_SIZE)
    parser.add_argument("--batch", type=int, default=settings.PUSHDECK_GATEWAY_BATCH)
    parser.add_argument("--baseline-count", type=int, default=20_000)
    parser.add_argument("--callback", action="store_true", help="receipts to a local receiver: all in by when?")
    return parser.parse_args()


def worker_env(args: argparse.Namespace, url: str, pki) -> dict[str, str]:
    """The workers' environment: this database and broker, the fake APNs, DEBUG off as in production."""
    return production_env(
        APNS_PRODUCTION_URL=url,
        APNS_SANDBOX_URL=url,
        GATEWAY_CA_BUNDLE=pki.ca_file,
        PUSHDECK_GATEWAY_BATCH=str(args.batch),
        PUSHDECK_CHUNK_SIZE=str(args.chunk),
        PUSHDECK_APP_CONCURRENCY="64",
        PUSHDECK_CHANNEL_CONCURRENCY="64",
    )


def start_workers(args: argparse.Namespace, env: dict[str, str]) -> list[subprocess.Popen]:
    queues = args.queues if not args.callback or "receipts" in args.queues else f"{args.queues},receipts"
    return [
        start_worker(env, queues=queues, concurrency=args.concurrency, pool=args.pool, start_new_session=True)
        for _ in range(args.workers)
    ]


def main() -> None:
    args = parse_args()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    pki = make_pki()
    fake_process, url, stats = serve_in_process(pki, require_client_cert=True, max_streams=1000)
    print(f"creating {args.count} devices and messages ...", flush=True)
    app, task = create_data(args.count, pki)
    receipts = callback_receiver(app) if args.callback else None
    env = worker_env(args, url, pki)
    workers: list[subprocess.Popen] = []
    try:
        workers = start_workers(args, env)
        time.sleep(4)
        cpu_before = sum(group_cpu_seconds(w.pid) for w in workers)
        machine_before, fake_cpu_before = machine_busy_seconds(), process_cpu_seconds(fake_process.pid)
        fake_before = stats()
        from campaigns.delivery.tasks import dispatch_task

        enqueued = timezone.now()
        started = time.monotonic()
        dispatch_task.delay(task.pk)
        while PushTask.objects.filter(pk=task.pk).values_list("status", flat=True).get() != TaskStatus.FINISHED:
            time.sleep(0.2)
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a worker died")
        elapsed = time.monotonic() - started
        worker_cpu = sum(group_cpu_seconds(w.pid) for w in workers) - cpu_before
        machine_cpu = machine_busy_seconds() - machine_before
        fake_cpu = process_cpu_seconds(fake_process.pid) - fake_cpu_before
        fake_after = stats()
        if receipts:
            while receipts()["received"] < args.count and time.monotonic() - started < 1.5 * elapsed + 600:
                time.sleep(0.2)
            receipts_elapsed, receipts_seen = time.monotonic() - started, receipts()
            receipts_machine_cpu = machine_busy_seconds() - machine_before
            receipts.stop()
    finally:
        for w in workers:
            os.killpg(w.pid, signal.SIGTERM)
            w.wait()
    accepted_at = list(
        Delivery.objects.filter(message__task=task, state=MessageState.ACCEPTED).values_list("accepted_at", flat=True)
    )
    latencies = [(at - enqueued).total_seconds() for at in accepted_at]
    accepted = len(accepted_at)
    final_messages = Message.objects.filter(task=task, state=MessageState.ACCEPTED).count()
    events = StatusEvent.objects.filter(message__task=task).count()
    requests = fake_after["requests"] - fake_before["requests"]
    print(f"creating the baseline: bare h2 client, {args.baseline_count} requests ...", flush=True)
    bare = bare_client_rate(url, pki, args.baseline_count)
    stats.stop()

    rate = args.count / elapsed
    print()
    print(
        f"messages: {args.count}, workers: {args.workers} x {args.pool} {args.concurrency}, "
        f"chunk {args.chunk}, gateway batch {args.batch}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"engine: {rate:,.0f} messages/s end to end ({elapsed:.1f}s); accepted deliveries {accepted}, "
        f"accepted messages {final_messages}, timeline entries {events}, requests at the fake APNs {requests}"
    )
    print(f"enqueue-to-accepted latency: p50 {percentile(latencies, 50):.2f}s, p99 {percentile(latencies, 99):.2f}s")
    print(
        f"worker CPU: {worker_cpu:.1f}s = {worker_cpu / args.count * 1e6:,.0f} us per message "
        f"({args.count / worker_cpu:,.0f} messages per worker CPU-second)"
        if worker_cpu
        else "worker CPU: not measured"
    )
    if worker_cpu:
        rest = machine_cpu - worker_cpu - fake_cpu
        print(
            f"machine CPU per message: {machine_cpu / args.count * 1e6:,.0f} us = workers "
            f"{worker_cpu / args.count * 1e6:,.0f} + fake APNs {fake_cpu / args.count * 1e6:,.0f} "
            f"+ PostgreSQL, Redis and the rest {rest / args.count * 1e6:,.0f}"
        )
    if receipts:
        print(
            f"receipts: {receipts_seen['valid']} of {args.count} in with a valid sign after {receipts_elapsed:.1f}s "
            f"= {receipts_elapsed / elapsed:.2f}x the delivery time (aim: within 1.5x)"
        )
        # However the work is spread, it cannot end before the machine has done it.
        floor = receipts_machine_cpu / (os.cpu_count() or 1)
        print(
            f"machine CPU from the send to the last receipt: {receipts_machine_cpu:.1f} CPU-s "
            f"= {receipts_machine_cpu / args.count * 1e6:,.0f} us per message for its delivery and its receipt; "
            f"on {os.cpu_count()} CPUs no schedule ends before {floor:.1f}s = {floor / elapsed:.2f}x the delivery time"
        )
    print(f"bare h2 client to the same fake: {bare:,.0f} messages/s; ratio engine/bare {rate / bare:.2f}")
    print(f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    delete_data(app)


def delete_data(app: App) -> None:
    delete_run(
        app,
        StatusEvent.objects.filter(message__app=app),
        ReceiptEvent.objects.filter(app=app),
        CallbackAttempt.objects.filter(delivery__message__app=app),
        UsageRollup.objects.filter(app=app),
        Delivery.objects.filter(message__app=app),
        Message.objects.filter(app=app),
        Device.objects.filter(app=app),
        also_vacuum=[PushTask],
    )


if __name__ == "__main__":
    main()
