"""Fixtures of the delivery engine tests: the real gateways (built by the factory from credentials
stored in the database) against the local fake services of tests/fakes, sends and devices."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from campaigns.gateways.factory import close_all
from campaigns.models import Device, Message, MessageState, PushTask, PushType, TargetType, TaskStatus
from console.models import ApnsCertificate, ChannelPackage, VendorChannel
from tests.fakes.apns import FakeApns
from tests.fakes.pki import Pki, make_pki
from tests.fakes.vendors import FakeHuawei

HUAWEI_APP_ID = "10086"
HUAWEI_SECRET = "hw-secret"


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    return make_pki(str(tmp_path_factory.mktemp("pki")))


def apns_certificate(app, pki: Pki, *, days: int = 365) -> ApnsCertificate:
    """An active APNs certificate of the app, issued by the test CA like Apple issues them."""
    client = pki.client_cert(app.ios_bundle_id, days=days)
    now = timezone.now()
    return ApnsCertificate.objects.create(
        app=app,
        p12=client.p12,
        password=client.password,
        environment="production",
        topic=app.ios_bundle_id,
        subject=f"Apple Push Services: {app.ios_bundle_id}",
        issuer="Pushdeck Test CA",
        serial=str(client.cert.serial_number),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=days),
        fingerprint=uuid.uuid4().hex,
        is_active=True,
    )


def huawei_channel(app, *, package_name: str = "", enabled: bool = True) -> VendorChannel:
    package, _ = ChannelPackage.objects.get_or_create(
        app=app, package_name=package_name or app.android_package, defaults={"is_main": not package_name}
    )
    return VendorChannel.objects.create(
        app=app,
        package=package,
        vendor="huawei",
        enabled=enabled,
        vendor_app_id=HUAWEI_APP_ID,
        secrets=json.dumps({"app_secret": HUAWEI_SECRET}),
        fingerprint=uuid.uuid4().hex,
    )


@dataclass
class Fakes:
    apns: FakeApns
    huawei: FakeHuawei
    certificate: ApnsCertificate

    def apns_ids(self) -> list[str]:
        """The apns-id of every request the fake APNs got (the delivery's push id)."""
        return [r.headers["apns-id"] for r in self.apns.requests]

    def huawei_tokens(self) -> list[str]:
        return [t for r in self.huawei.requests_to("messages:send") for t in r.json["message"]["token"]]


@pytest.fixture
def gateways(app, pki, settings):
    """The app's real credentials in the database and every gateway URL pointing at a local fake:
    APNs over HTTP/2 + TLS checking the client certificate, Huawei Push Kit with its OAuth."""
    close_all()
    settings.GATEWAY_CA_BUNDLE = pki.ca_file
    settings.GATEWAY_TIMEOUT = 5.0
    apns = FakeApns(pki, require_client_cert=True).start()
    huawei = FakeHuawei(app_id=HUAWEI_APP_ID, app_secret=HUAWEI_SECRET).start()
    settings.APNS_PRODUCTION_URL = settings.APNS_SANDBOX_URL = apns.url
    settings.HUAWEI_URL = huawei.url
    settings.HUAWEI_TOKEN_URL = huawei.token_url
    try:
        yield Fakes(apns=apns, huawei=huawei, certificate=apns_certificate(app, pki))
    finally:
        close_all()
        apns.stop()
        huawei.stop()


def make_device(app, device_id=None, *, platform="android", **fields):
    device_id = device_id or uuid.uuid4().hex
    if platform == "ios":
        fields.setdefault("apns_token", fields.pop("token", None) or uuid.uuid4().hex * 2)
    fields.setdefault("client_secret", f"secret-of-{device_id}")  # as device/report issues one
    return Device.objects.create(app=app, device_id=device_id, platform=platform, **fields)


def make_task(
    app,
    targets,
    *,
    target_type=TargetType.DEVICE,
    push_type=PushType.TEMPLATE,
    payload=None,
    params=None,
    expires_in=180,
    platform="",
):
    task = PushTask.objects.create(
        app=app,
        name="Console test",
        push_type=push_type,
        source="console",
        params=params or {},
        status=TaskStatus.QUEUED,
        target_count=len(targets),
    )
    now = timezone.now()
    Message.objects.bulk_create(
        Message(
            app=app,
            task=task,
            customer_msg_id=f"{task.pk}-{i}",
            push_type=push_type,
            target_type=target_type,
            target_id=t,
            platform=platform,
            title="Hello",
            body=f"Body {i}",
            payload=payload or {},
            expires_at=now + timedelta(seconds=expires_in),
            state=MessageState.PENDING,
        )
        for i, t in enumerate(targets)
    )
    return task


def make_broadcast(app, *, platform="ios", **kw):
    """A queued broadcast to every device of `platform` (one message, fanned out at dispatch)."""
    return make_task(
        app,
        [""],
        target_type=TargetType.ALL,
        push_type=PushType.BROADCAST,
        params={"target_type": "all", "platform": platform},
        **kw,
    )


def run_task(task):
    """Run the fan-out in this process: dispatch, then every chunk, as a worker would."""
    from campaigns.delivery import dispatch

    chunks = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued(chunks)
    retries = []
    for kwargs in chunks:
        retry = dispatch.chunk_deliver(**kwargs)
        if retry.delivery_ids:
            retries.append(retry)
    task.refresh_from_db()
    return retries


@pytest.fixture
def clean_broker():
    """An empty queue (our own Redis db) and no leftover concurrency slots."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class EngineFleet:
    """Real worker processes of the engine against a fake APNs (HTTP/2, client certificate) and a
    fake Huawei Push Kit, both in this process so a test reads what they received."""

    def __init__(self, app, pki, tmp_path):
        from tests.fakes.vendors import FakeHuawei

        self.app, self.pki, self.tmp_path = app, pki, tmp_path
        self.apns = FakeApns(pki, require_client_cert=True).start()
        self.apns.count_ids = True
        self.huawei = FakeHuawei(app_id=HUAWEI_APP_ID, app_secret=HUAWEI_SECRET).start()
        self.certificate = apns_certificate(app, pki)
        self.procs: list = []
        self.logs: list = []

    def env(self, **extra: str) -> dict[str, str]:
        from .test_worker_kill import worker_env

        env = worker_env(self.apns.url, self.pki.ca_file)
        env.update(HUAWEI_URL=self.huawei.url, HUAWEI_TOKEN_URL=self.huawei.token_url, **extra)
        return env

    def start(self, *, concurrency: int = 1, chunk_size: int = 500, **extra: str):
        import subprocess

        from tests import workers

        log = self.tmp_path / f"worker{len(self.procs)}.log"
        pool = "solo" if concurrency == 1 else "prefork"
        proc = workers.start_worker(
            self.env(PUSHDECK_CHUNK_SIZE=str(chunk_size), **extra),
            concurrency=concurrency,
            pool=pool,
            hostname=f"engine{len(self.procs)}@%h",
            loglevel="INFO",
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def wait_ready(self, timeout: float = 60.0) -> None:
        from console.celery import app as celery_app

        def answered():
            for proc, log in zip(self.procs, self.logs, strict=True):
                assert proc.poll() is None, log.read_text()[-3000:]
            return len(celery_app.control.ping(timeout=1.0) or []) >= len(self.procs)

        assert wait_for(answered, timeout=timeout), [log.read_text()[-2000:] for log in self.logs]

    def stop(self) -> None:
        import subprocess

        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.apns.stop()
        self.huawei.stop()


@pytest.fixture
def engine_fleet(app, pki, transactional_db, tmp_path, clean_broker):
    """EngineFleet: .start() real workers; .apns / .huawei are the fakes they send to."""
    close_all()
    fleet = EngineFleet(app, pki, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop()
        close_all()
