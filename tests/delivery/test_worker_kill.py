"""Nothing lost, nothing twice: a real worker process sending to the fake APNs over HTTP/2 (its own
process, checking the provider JWT) is SIGKILLed mid-run and restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections import Counter

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.delivery.tasks import deliver_parked_sweep
from campaigns.models import FINAL_STATES, Delivery, Device, Message, MessageState, PushTask, TargetType, TaskStatus
from console.models import ApnsTokenKey
from tests import workers
from tests.fakes.apns import serve_in_process
from tests.fakes.pki import make_p8_key

from .conftest import make_task

CONCURRENCY = 2
BATCH = 50
VISIBILITY_TIMEOUT = 5  # seconds before the broker hands a dead worker's unacknowledged chunks out again


def start_worker(env):
    # its own process group: the test SIGKILLs the whole worker; stderr is shown when it dies
    return workers.start_worker(
        env, concurrency=CONCURRENCY, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def worker_env(apns_url, ca_file):
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        APNS_PRODUCTION_URL=apns_url,
        APNS_SANDBOX_URL=apns_url,
        GATEWAY_CA_BUNDLE=ca_file,
        PUSHDECK_CHUNK_SIZE="500",
        PUSHDECK_GATEWAY_BATCH=str(BATCH),
        PUSHDECK_APP_CONCURRENCY="50",
        PUSHDECK_CHANNEL_CONCURRENCY="50",
        PUSHDECK_SLOT_LEASE_SECONDS="30",
    )
    if db.get("PASSWORD"):
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@")
    return env


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_run_then_restart_leaves_10000_final_statuses_and_no_extra_duplicates(app, pki, settings):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    private_pem, public_pem = make_p8_key()
    app.apns_auth = "token"
    app.save(update_fields=["apns_auth"])
    ApnsTokenKey.objects.create(
        app=app,
        key_pem=private_pem,
        key_id="KILLTEST01",
        team_id="TEAM123456",
        topic=app.ios_bundle_id,
        fingerprint="k",
    )
    total = 10_000
    now = timezone.now()
    Device.objects.bulk_create(
        Device(app=app, device_id=f"k{i:05d}", platform="ios", apns_token=uuid.uuid4().hex * 2, created_at=now)
        for i in range(total)
    )
    task = make_task(app, [f"k{i:05d}" for i in range(total)], target_type=TargetType.IOS_DEVICE, expires_in=3600)
    from campaigns.delivery.tasks import dispatch_task

    fake, url, stats = serve_in_process(pki, token_keys={"KILLTEST01": ("TEAM123456", public_pem)})
    try:
        env = worker_env(url, pki.ca_file)
        dispatch_task.delay(task.pk)
        worker = start_worker(env)
        try:
            deadline = time.monotonic() + 180
            while stats()["requests"] < 2500 and time.monotonic() < deadline:
                assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
                time.sleep(0.05)
            kill_group(worker)
            sent_at_kill = stats()["requests"]
            task.refresh_from_db()
            assert task.status == TaskStatus.RUNNING, "a killed run is never marked finished"
            final_at_kill = Message.objects.filter(task=task, state__in=FINAL_STATES).count()
            assert 0 < final_at_kill < total
            # What can really be sent twice: deliveries claimed (sending) but not recorded when the
            # worker died, i.e. the HTTP/2 streams in flight at the kill. Nothing else is sent again.
            in_flight = Delivery.objects.filter(message__task=task, state=MessageState.SENDING).count()
            # Restarted once the chunks it held are past the visibility timeout: a Redis worker gives
            # them out again when it starts, and after that only every 100 s (kombu's restore sweep).
            time.sleep(VISIBILITY_TIMEOUT + 1)
            worker = start_worker(env)
            # The beat sweep re-opens the dead worker's claims once they are older than the timeout.
            settings.PUSHDECK_CLAIM_TIMEOUT_SECONDS = 10
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                task.refresh_from_db()
                if task.status == TaskStatus.FINISHED:
                    break
                assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
                deliver_parked_sweep()
                time.sleep(1)
        finally:
            kill_group(worker)
        at_fake = stats()
    finally:
        stats.stop()

    task.refresh_from_db()
    states = Counter(Message.objects.filter(task=task).values_list("state", flat=True))
    requests, duplicates = at_fake["requests"], at_fake["duplicates"]
    print(
        f"\nsent before kill: {sent_at_kill}, final before kill: {final_at_kill}, requests at the fake APNs: "
        f"{requests}, distinct apns-ids: {requests - duplicates}, duplicates: {duplicates} "
        f"(bound: {in_flight} claimed and in flight at the kill), connections: {at_fake['connections']}"
    )
    assert task.status == TaskStatus.FINISHED
    assert states == {MessageState.ACCEPTED: total}
    assert PushTask.objects.get(pk=task.pk).succeeded == total
    assert requests - duplicates == total
    assert duplicates <= in_flight <= CONCURRENCY * BATCH
