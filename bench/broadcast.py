"""Broadcast fan-out at scale: worker memory stays flat as the audience grows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your db> CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        python bench/broadcast.py --sizes 100000,1000000

For each size: a throwaway app with that many iOS devices and an APNs certificate (as
bench/dispatch.py makes them), one broadcast to every device, sent by one real worker
process through the real engine to the fake APNs (HTTP/2, its own process). The fan-out
walks keyset ranges of device ids (a chunk is a range, not a list of ids), so the worker
never holds the audience. Prints the time, messages/s, every device reached once, and the
worker's peak resident memory (VmHWM of each of its processes) for each size.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import uuid
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dispatch as d  # noqa: E402  (bench/dispatch.py: sets Django up, the fake APNs and worker helpers)
from django.utils import timezone  # noqa: E402

from campaigns.models import Device, Message, PushTask, TaskStatus  # noqa: E402
from console.models import ApnsCertificate, App  # noqa: E402


def peak_rss_mb(pgid: int) -> list[float]:
    """VmHWM (peak resident set) of every live process of a process group, in MB."""
    peaks = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                if int(handle.read().rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
            with open(f"/proc/{entry}/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sorted(peaks, reverse=True)


def create_broadcast(count: int, pki) -> tuple[App, PushTask]:
    app = App.objects.create(name=f"broadcast {uuid.uuid4().hex[:6]}", ios_bundle_id=d.TOPIC, approval_threshold=10**9)
    client = pki.client_cert(d.TOPIC)
    now = timezone.now()
    ApnsCertificate.objects.create(
        app=app,
        p12=client.p12,
        password=client.password,
        environment="production",
        topic=d.TOPIC,
        subject=f"Apple Push Services: {d.TOPIC}",
        issuer="Pushdeck Test CA",
        serial=str(client.cert.serial_number),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=300),
        fingerprint=uuid.uuid4().hex,
        is_active=True,
    )
    batch = 20_000
    for start in range(0, count, batch):
        Device.objects.bulk_create(
            Device(app=app, device_id=f"b{i:07d}", platform="ios", apns_token=uuid.uuid4().hex * 2, created_at=now)
            for i in range(start, min(count, start + batch))
        )
    params = {"target_type": "all", "target_values": [], "platform": "ios", "unbind_period": 1}
    task = PushTask.objects.create(
        app=app, name="broadcast bench", push_type="BROADCAST", source="api", params=params, status=TaskStatus.QUEUED
    )
    Message.objects.create(
        app=app,
        task=task,
        customer_msg_id=f"broadcast-{task.pk}",
        push_type="BROADCAST",
        target_type="all",
        platform="ios",
        title="Bench",
        body="Hello everyone",
        expires_at=now + timedelta(hours=3),
    )
    return app, task


def run(size: int, args, pki, url, stats) -> None:
    print(f"creating {size:,} devices ...", flush=True)
    app, task = create_broadcast(size, pki)
    env = d.worker_env(args, url, pki)
    worker = d.start_worker(env, queues="dispatch,default", concurrency=1, pool="prefork", start_new_session=True)
    try:
        time.sleep(4)
        before = stats()
        from campaigns.delivery.tasks import dispatch_task

        started = time.monotonic()
        dispatch_task.delay(task.pk)
        peak = []
        while PushTask.objects.filter(pk=task.pk).values_list("status", flat=True).get() != TaskStatus.FINISHED:
            time.sleep(1)
            peak = peak_rss_mb(worker.pid) or peak
            if worker.poll() is not None:
                raise SystemExit("the worker died")
        elapsed = time.monotonic() - started
        peak = peak_rss_mb(worker.pid) or peak
        after = stats()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait()
    requests = after["requests"] - before["requests"]
    duplicates = after["duplicates"] - before["duplicates"]
    print(
        f"broadcast to {size:,} devices: {elapsed:.0f}s ({size / elapsed:,.0f} messages/s); requests at the fake "
        f"APNs {requests:,}, repeated apns-ids {duplicates}; worker peak RSS {max(peak):.0f} MB "
        f"(per process: {', '.join(f'{p:.0f}' for p in peak)} MB); chunk {args.chunk}",
        flush=True,
    )
    d.delete_data(app)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    d.redis.Redis.from_url(d.settings.CELERY_BROKER_URL).flushdb()
    pki = d.make_pki()
    fake_process, url, stats = d.serve_in_process(pki, require_client_cert=True, max_streams=1000)
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            run(size, args, pki, url, stats)
    finally:
        stats.stop()


if __name__ == "__main__":
    main()
