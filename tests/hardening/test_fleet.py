"""Two worker processes, as two machines would run them, on separate queues against PostgreSQL and Redis.

The last test sends one large task (a multiple push of a few thousand messages) through the
real engine to a fake APNs in its own process and shows it spread over both workers with no
message sent twice.
"""

from __future__ import annotations

import re
import types
import uuid
from collections import Counter

import pytest
from celery import chain
from django.utils import timezone

from campaigns.models import Delivery, Device, Message, MessageState, Platform, PushType, TargetType, TaskStatus
from console.crypto import fingerprint
from console.models import ApnsTokenKey
from console.ops.models import WorkerHeartbeat
from console.ops.tasks import ping_worker
from tests.fakes.apns import serve_in_process
from tests.fakes.pki import make_p8_key, make_pki

from .conftest import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def _pings() -> dict[tuple[str, str], int]:
    return {(b.queue, b.hostname): b.pings for b in WorkerHeartbeat.objects.all()}


def test_a_chain_crosses_two_workers_on_separate_queues(fleet):
    alpha = fleet.start("alpha", ["default", "ingest"])
    beta = fleet.start("beta", ["dispatch", "receipts", "rollups"])
    fleet.wait_ready()

    steps = ["default", "ingest", "dispatch", "receipts", "rollups", "default"]
    chain(*(ping_worker.si(q).set(queue=q) for q in steps)).apply_async()

    expected = {
        ("default", alpha): 2,
        ("ingest", alpha): 1,
        ("dispatch", beta): 1,
        ("receipts", beta): 1,
        ("rollups", beta): 1,
    }
    assert wait_until(lambda: _pings() == expected, timeout=60), _pings()


def test_a_shared_queue_is_spread_over_both_workers_without_running_anything_twice(fleet):
    alpha = fleet.start("alpha", ["default", "ingest"])
    beta = fleet.start("beta", ["default", "dispatch"])
    fleet.wait_ready()

    total = 60
    for _ in range(total):
        ping_worker.apply_async(args=["default"], queue="default")

    assert wait_until(lambda: sum(_pings().values()) >= total, timeout=90), _pings()
    pings = _pings()
    # Every ping ran exactly once (acks_late + prefetch 1), and both machines took a share.
    assert sum(pings.values()) == total
    assert set(pings) == {("default", alpha), ("default", beta)}, pings
    assert min(pings.values()) > 0


def test_the_beat_heartbeat_reaches_every_queue(fleet):
    from django.conf import settings

    from console.celery import app as celery_app
    from console.ops.tasks import ping_workers

    alpha = fleet.start("alpha", ["default", "ingest"])
    beta = fleet.start("beta", ["dispatch", "receipts", "rollups"])
    fleet.wait_ready()
    assert celery_app.conf.beat_schedule["ping-workers"]["task"] == ping_workers.name
    ping_workers.delay()  # what beat sends every minute; it runs on the default queue
    served = lambda: {q for q, _h in _pings()}  # noqa: E731
    assert wait_until(lambda: served() == set(settings.PUSHDECK_QUEUES), timeout=60), _pings()
    hosts = {q: h for q, h in _pings()}
    assert hosts == {"default": alpha, "ingest": alpha, "dispatch": beta, "receipts": beta, "rollups": beta}


# --- one large send spread over both machines ------------------------------------------------

TOPIC = "com.example.fleet"
FLEET_MESSAGES = 3000
CHUNK = 150
CHUNK_DONE = re.compile(r"Task campaigns\.delivery\.tasks\.deliver_chunk\[[0-9a-f-]+\] succeeded in [0-9.e-]+s: 1\b")


@pytest.fixture
def fake_apns_process(tmp_path):
    """The fake APNs (HTTP/2 + TLS, ES256 JWT checked) in its own process; it counts repeated apns-ids."""
    (tmp_path / "pki").mkdir()
    pki = make_pki(str(tmp_path / "pki"))
    private_pem, public_pem = make_p8_key()
    key = {"key_pem": private_pem, "key_id": "FLEETKEY01", "team_id": "FLEETTEAM1"}
    process, url, stats = serve_in_process(pki, token_keys={key["key_id"]: (key["team_id"], public_pem)})
    yield types.SimpleNamespace(pki=pki, url=url, stats=stats, key=key)
    stats.stop()
    if process.is_alive():
        process.kill()


def _ios_app_on_the_fake(app, key) -> None:
    app.apns_auth = "token"
    app.ios_bundle_id = TOPIC
    app.approval_threshold = FLEET_MESSAGES * 10
    app.save(update_fields=["apns_auth", "ios_bundle_id", "approval_threshold"])
    ApnsTokenKey.objects.create(
        app=app,
        key_pem=key["key_pem"],
        key_id=key["key_id"],
        team_id=key["team_id"],
        topic=TOPIC,
        environment="production",
        fingerprint=fingerprint(key["key_pem"]),
    )
    now = timezone.now()
    Device.objects.bulk_create(
        Device(
            app=app, device_id=f"fleet{i:05d}", platform=Platform.IOS, apns_token=uuid.uuid4().hex * 2, created_at=now
        )
        for i in range(FLEET_MESSAGES)
    )


def _chunks_done(fleet, hostname: str) -> int:
    return len(CHUNK_DONE.findall(fleet.log_of(hostname)))


def test_one_large_send_is_spread_over_both_workers_and_no_message_is_sent_twice(fleet, app, fake_apns_process):
    from campaigns.sends.services import SendSpec, send_submit
    from tests.campaigns.send_fixtures import make_template

    fake = fake_apns_process
    _ios_app_on_the_fake(app, fake.key)
    engine = {
        "APNS_PRODUCTION_URL": fake.url,
        "APNS_SANDBOX_URL": fake.url,
        "GATEWAY_CA_BUNDLE": fake.pki.ca_file,
        "PUSHDECK_CHUNK_SIZE": str(CHUNK),
        "PUSHDECK_APP_CONCURRENCY": "4",
        "PUSHDECK_CHANNEL_CONCURRENCY": "4",
    }
    # Two machines: both take the dispatch queue, and each also serves queues of its own.
    alpha = fleet.start("alpha", ["dispatch", "ingest", "default"], **engine)
    beta = fleet.start("beta", ["dispatch", "receipts", "rollups"], **engine)
    fleet.wait_ready()

    template = make_template(app, "fleet", title="Hello #name#", body="Order #code# shipped")
    spec = SendSpec(
        push_type=PushType.MULTIPLE,
        target_type=TargetType.IOS_DEVICE,
        name="Fleet send",
        targets=[(f"fleet{i:05d}", f"fleet-{i:05d}") for i in range(FLEET_MESSAGES)],
        template_version=template.current_version,
        values={"name": "Ada", "code": "42"},
    )
    task, created = send_submit(app=app, spec=spec, source="console")
    assert created and task.status == TaskStatus.QUEUED

    def finished():
        task.refresh_from_db()
        return task.status == TaskStatus.FINISHED

    assert wait_until(finished, timeout=240, interval=1.0), (
        task.status,
        Counter(Message.objects.filter(task=task).values_list("state", flat=True)),
        {h: fleet.log_of(h)[-1500:] for h in (alpha, beta)},
    )
    stats = fake.stats()
    shares = {hostname: _chunks_done(fleet, hostname) for hostname in (alpha, beta)}
    print(f"\nchunks per worker: {shares}; at the fake APNs: {stats}")

    # Every message has exactly one final status, and every device got its push once.
    states = Counter(Message.objects.filter(task=task).values_list("state", flat=True))
    assert states == {MessageState.ACCEPTED: FLEET_MESSAGES}, states
    assert Delivery.objects.filter(message__task=task).count() == FLEET_MESSAGES
    assert stats["requests"] == FLEET_MESSAGES, stats
    assert stats["duplicates"] == 0, stats
    # Both machines did a share of the one task, each over its own HTTP/2 connection(s).
    assert sum(shares.values()) == FLEET_MESSAGES // CHUNK, shares
    assert min(shares.values()) > 0, shares
    assert stats["connections"] >= 2, stats
