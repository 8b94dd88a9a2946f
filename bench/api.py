"""Signed API throughput against the README's production command, started by this script.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your db> CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        python bench/api.py --requests 3000

Starts `gunicorn -c python:console.gunicorn_conf console.asgi:application -k uvicorn.workers.UvicornWorker
-w WORKERS` (the README's production command) with
DEBUG off, creates a throwaway app with the Push API on (its own key pair, no per-minute limit),
and sends signed simple pushes (one device, a new msgKey each) at 10, 50 and 100 concurrent
clients over keep-alive connections: prints accepted pushes/s and p50/p95/p99 per level, and
the same for the bare Django JSON view `/healthz` on the same server as the baseline ratio.
Then client-API registrations (first device/report of new devices, signed under the AppSecret)
at 50 clients: registrations/s. Requests are signed before the clock starts, so the client's
RSA signing does not compete with the server. Everything it created is deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
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
    free_port,
    group_cpu_seconds,
    machine_busy_seconds,
    percentile,
    production_env,
    wait_until_up,
)
from django.conf import settings  # noqa: E402

from campaigns.models import Delivery, Device, Message, PushTask, StatusEvent  # noqa: E402
from console.apisign import hmac_signature, signed_string  # noqa: E402
from console.keys import generate_rsa_pair, rsa_sign  # noqa: E402
from console.models import App, KeyConfig  # noqa: E402
from console.security.models import ApiRateLimit  # noqa: E402

PUSH = "/api/v1/push/simple"
REPORT = "/api/v1/client/device/report"


def server_env() -> dict[str, str]:
    return production_env(
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DB_POOL_SIZE=os.environ.get("DB_POOL_SIZE", "4"),  # as the README's production section
        PUSHDECK_CLIENT_DEVICE_RATE_LIMIT_PER_MINUTE="0",
        PUSHDECK_CLIENT_RATE_LIMIT_PER_MINUTE="0",
        LOG_LEVEL="WARNING",
    )


def request_bytes(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode() + body


def signed_push(app: App, private_pem: str, n: int) -> bytes:
    body = json.dumps(
        {
            "taskName": "bench",
            "deliveryType": 1,
            "targetMsgkey": {"bench-device": f"m-{uuid.uuid4().hex[:16]}-{n}"},
            "title": "Hello",
            "body": "World",
        }
    ).encode()
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    data = signed_string(method="POST", path=PUSH, timestamp=timestamp, nonce=nonce, body=body)
    return request_bytes(
        "POST",
        PUSH,
        body,
        {
            "Content-Type": "application/json",
            "X-Pushdeck-App-Key": app.app_key,
            "X-Pushdeck-Timestamp": timestamp,
            "X-Pushdeck-Nonce": nonce,
            "X-Pushdeck-Signature": rsa_sign(private_pem, data),
        },
    )


def signed_report(app: App, n: int) -> bytes:
    body = json.dumps({"deviceId": f"bench-{uuid.uuid4().hex[:12]}-{n}", "platform": "android"}).encode()
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    data = signed_string(method="POST", path=REPORT, timestamp=timestamp, nonce=nonce, body=body)
    return request_bytes(
        "POST",
        REPORT,
        body,
        {
            "Content-Type": "application/json",
            "X-Pushdeck-App-Key": app.app_key,
            "X-Pushdeck-Timestamp": timestamp,
            "X-Pushdeck-Nonce": nonce,
            "X-Pushdeck-Signature": hmac_signature(app.app_secret, data),
        },
    )


async def _client(port: int, queue: list[bytes], results: list[tuple[float, bool]]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while queue:
            request = queue.pop()
            started = time.monotonic()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            ok = head.startswith(b"HTTP/1.1 200") and (b'"resultCode"' not in body or b'"resultCode": 100' in body)
            results.append((time.monotonic() - started, ok))
    finally:
        writer.close()


def run_level(port: int, requests: list[bytes], clients: int, server_pgid: int) -> dict:
    results: list[tuple[float, bool]] = []
    queue = list(requests)

    async def main():
        await asyncio.gather(*(_client(port, queue, results) for _ in range(clients)))

    server_before, database_before = group_cpu_seconds(server_pgid), command_cpu("postgres")
    machine_before = machine_busy_seconds()
    started = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - started
    n = max(1, len(results))
    cpu = {
        "server_ms": (group_cpu_seconds(server_pgid) - server_before) / n * 1000,
        "database_ms": cpu_spent(database_before, command_cpu("postgres")) / n * 1000,
        "machine_ms": (machine_busy_seconds() - machine_before) / n * 1000,
    }
    latencies = [t for t, _ in results]
    accepted = sum(1 for _, ok in results if ok)
    return {
        "clients": clients,
        "sent": len(results),
        "accepted": accepted,
        "rate": accepted / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p95": percentile(latencies, 95) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        **cpu,
    }


def bare(port: int, count: int) -> list[bytes]:
    return [request_bytes("GET", "/healthz", b"", {}) for _ in range(count)]


def delete_data(app: App) -> None:
    for queryset in (
        StatusEvent.objects.filter(message__app=app),
        Delivery.objects.filter(message__app=app),
        Message.objects.filter(app=app),
        PushTask.objects.filter(app=app),
        Device.objects.filter(app=app),
    ):
        queryset._raw_delete(queryset.db)
    app.delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000, help="pushes per concurrency level")
    parser.add_argument("--levels", default="10,50,100")
    parser.add_argument("--workers", type=int, default=4, help="server worker processes (README: -w 4)")
    parser.add_argument("--server", choices=["asgi", "wsgi"], default="asgi")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker of the WSGI server")
    parser.add_argument("--registrations", type=int, default=3000)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    private_pem, public_pem = generate_rsa_pair()
    app = App.objects.create(name=f"bench api {uuid.uuid4().hex[:6]}")
    KeyConfig.objects.update_or_create(app=app, defaults={"api_enabled": True, "customer_public_key": public_pem})
    ApiRateLimit.objects.update_or_create(app=app, defaults={"per_minute": 0})
    Device.objects.create(app=app, device_id="bench-device", platform="android")
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "python:console.gunicorn_conf"]
    if args.server == "wsgi":
        command += ["console.wsgi:application", "-k", "gthread", "--threads", str(args.threads)]
    else:
        command += ["console.asgi:application", "-k", "uvicorn.workers.UvicornWorker"]
    command += ["-b", f"127.0.0.1:{port}", "-w", str(args.workers), "--backlog", "2048"]
    server = subprocess.Popen(command, cwd=ROOT, env=server_env(), start_new_session=True)
    rows = []
    try:
        wait_until_up(f"http://127.0.0.1:{port}")
        run_level(port, bare(port, 500), 10, server.pid)  # warm every worker
        load_before = os.getloadavg()[0]
        for clients in levels:
            print(f"signing {args.requests} pushes for {clients} clients ...", flush=True)
            pushes = [signed_push(app, private_pem, i) for i in range(args.requests)]
            push = run_level(port, pushes, clients, server.pid)
            base = run_level(port, bare(port, args.requests), clients, server.pid)
            rows.append((push, base))
        print(f"signing {args.registrations} device reports ...", flush=True)
        reports = [signed_report(app, i) for i in range(args.registrations)]
        registrations = run_level(port, reports, 50, server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print()
    print(
        f"server: {' '.join(command[2:])}; "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    for push, base in rows:
        print(
            f"{push['clients']:>3} clients: simple push {push['accepted']}/{push['sent']} accepted, "
            f"{push['rate']:,.0f}/s, p50 {push['p50']:.0f} ms, p95 {push['p95']:.0f} ms, p99 {push['p99']:.0f} ms | "
            f"bare JSON view {base['rate']:,.0f}/s, p95 {base['p95']:.0f} ms | ratio push/bare {push['rate'] / base['rate']:.2f}"
        )
        print(
            f"     CPU per request: push: server {push['server_ms']:.1f} ms, PostgreSQL {push['database_ms']:.1f} ms, "
            f"machine {push['machine_ms']:.1f} ms | bare: server {base['server_ms']:.1f} ms, "
            f"machine {base['machine_ms']:.1f} ms"
        )
    print(
        f"client API registrations (50 clients): {registrations['accepted']}/{registrations['sent']} accepted, "
        f"{registrations['rate']:,.0f}/s, p50 {registrations['p50']:.0f} ms, p95 {registrations['p95']:.0f} ms; "
        f"CPU per registration: server {registrations['server_ms']:.1f} ms, PostgreSQL "
        f"{registrations['database_ms']:.1f} ms, machine {registrations['machine_ms']:.1f} ms"
    )
    print(f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    delete_data(app)


if __name__ == "__main__":
    main()
