"""Baseline for the dispatch bench: a bare HTTP/2 client (our h2 connection, no Django work
per message beyond building the request) sending N requests to the fake APNs, which runs in
its own process. Prints messages/s.

    PYTHONPATH=. python bench/apns_baseline.py --count 20000 --streams 100 --connections 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--streams", type=int, default=100, help="concurrent streams per connection")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--gateway", action="store_true", help="go through ApnsGateway.send_batch (batches of 1000)")
    parser.add_argument("--httpx", action="store_true", help="compare: httpx with HTTP/2 instead of our h2 client")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from campaigns.gateways.http import H2Connection, ssl_context
    from tests.fakes.apns import serve_in_process
    from tests.fakes.pki import make_pki

    pki = make_pki()
    client = pki.client_cert("com.example.bench")
    settings.GATEWAY_CA_BUNDLE = pki.ca_file
    process, url, stats = serve_in_process(pki, require_client_cert=True, max_streams=1000)
    cpu_started = time.process_time()
    try:
        if args.gateway:
            rate = _through_gateway(args, settings, url, client)
        elif args.httpx:
            from campaigns.gateways.apns import p12_to_pem

            cert_pem, key_pem = p12_to_pem(client.p12, client.password)
            context = ssl_context(cert_pem=cert_pem, key_pem=key_pem, http2=True)
            rate = asyncio.run(_httpx(args, url, context))
        else:
            from campaigns.gateways.apns import p12_to_pem

            cert_pem, key_pem = p12_to_pem(client.p12, client.password)
            context = ssl_context(cert_pem=cert_pem, key_pem=key_pem, http2=True)
            rate = asyncio.run(_bare(args, url, context, H2Connection))
        counts = stats()
        print(f"fake APNs received {counts['requests']} requests on {counts['connections']} connection(s)")
        client_cpu = time.process_time() - cpu_started
        print(
            f"CPU: client {client_cpu:.2f}s ({args.count / client_cpu:,.0f} msgs per client CPU-second), "
            f"fake {counts['cpu_seconds']:.2f}s ({args.count / counts['cpu_seconds']:,.0f} per fake CPU-second)"
        )
        print(f"{rate:,.0f} msgs/s")
    finally:
        stats.stop()


async def _bare(args, url, context, H2Connection) -> float:
    connections = [H2Connection(url, context, max_streams=args.streams) for _ in range(args.connections)]
    body = json.dumps({"aps": {"alert": {"title": "Bench", "body": "Hello"}, "sound": "default"}}).encode()
    token = "ab" * 32
    expiration = str(int(time.time()) + 3600)
    semaphore = asyncio.Semaphore(args.streams * args.connections)

    async def one(i: int) -> int:
        push_id = str(uuid.uuid4())
        headers = [
            ("apns-id", push_id),
            ("apns-collapse-id", push_id),
            ("apns-topic", "com.example.bench"),
            ("apns-push-type", "alert"),
            ("apns-priority", "10"),
            ("apns-expiration", expiration),
        ]
        async with semaphore:
            response = await connections[i % len(connections)].request("POST", f"/3/device/{token}", headers, body)
        return response.status

    await connections[0].request("POST", f"/3/device/{token}", [("apns-topic", "com.example.bench")], body)
    cpu = time.process_time()
    started = time.perf_counter()
    statuses = await asyncio.gather(*(one(i) for i in range(args.count)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    ok = sum(1 for s in statuses if s == 200)
    print(f"bare h2 client: {args.count} requests, {ok} accepted, {elapsed:.2f}s, {args.connections} connection(s)")
    print(f"client CPU while sending: {cpu:.2f}s = {args.count / cpu:,.0f} msgs per CPU-second")
    return args.count / elapsed


async def _httpx(args, url, context) -> float:
    import httpx

    body = json.dumps({"aps": {"alert": {"title": "Bench", "body": "Hello"}, "sound": "default"}}).encode()
    token = "ab" * 32
    semaphore = asyncio.Semaphore(args.streams * args.connections)
    async with httpx.AsyncClient(http2=True, verify=context, base_url=url) as http:

        async def one() -> int:
            push_id = str(uuid.uuid4())
            headers = {"apns-id": push_id, "apns-collapse-id": push_id, "apns-topic": "com.example.bench"}
            async with semaphore:
                response = await http.post(f"/3/device/{token}", content=body, headers=headers)
            return response.status_code

        await one()
        cpu = time.process_time()
        started = time.perf_counter()
        statuses = await asyncio.gather(*(one() for _ in range(args.count)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    ok = sum(1 for s in statuses if s == 200)
    print(f"httpx http2 client: {args.count} requests, {ok} accepted, {elapsed:.2f}s")
    print(f"client CPU while sending: {cpu:.2f}s = {args.count / cpu:,.0f} msgs per CPU-second")
    return args.count / elapsed


def _through_gateway(args, settings, url, client) -> float:
    import datetime as dt

    from campaigns.gateways.apns import ApnsGateway
    from campaigns.gateways.base import OutgoingPush
    from console.models import ApnsCertificate

    settings.APNS_PRODUCTION_URL = url
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=client.topic, environment="production")
    gateway = ApnsGateway(credential, connections=args.connections, max_streams=args.streams)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    pushes = [
        OutgoingPush(
            delivery_id=i,
            push_id=str(uuid.uuid4()),
            token="ab" * 32,
            platform="ios",
            title="Bench",
            body="Hello",
            expires_at=expires,
        )
        for i in range(args.count)
    ]
    gateway.send(pushes[0])
    cpu = time.process_time()
    started = time.perf_counter()
    accepted = 0
    for i in range(0, len(pushes), 1000):
        accepted += sum(r.accepted for r in gateway.send_batch(pushes[i : i + 1000]))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    print(f"ApnsGateway.send_batch: {args.count} pushes, {accepted} accepted, {elapsed:.2f}s")
    print(f"client CPU while sending: {cpu:.2f}s = {args.count / cpu:,.0f} msgs per CPU-second")
    return args.count / elapsed


if __name__ == "__main__":
    main()
