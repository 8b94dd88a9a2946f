"""Delivery receipts: the SPEC body POSTed to the callback URL, RSA-signed, retried, every attempt logged."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.delivery import receipts
from campaigns.delivery.receipts import _quote_sign, _sign_slot, receipt_post, receipts_send
from campaigns.delivery.tasks import send_receipts
from campaigns.models import CallbackAttempt, Delivery, Message, MessageState, TargetType
from console.celery import app as celery_app
from console.keys import generate_rsa_pair, rsa_verify, urlsafe_b64
from console.models import KeyConfig
from tests.factories_campaigns import insert_messages
from tests.fakes.http import ManyClientsServer

from .conftest import make_device, make_task, run_task, wait_for
from .test_worker_queue import QUEUES


class CallbackServer:
    """The customer's callback endpoint: checks the signature with the console public key."""

    def __init__(self, public_pem, fail_first=0, tls=None, delay=0.0):
        self.received = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                sign = parse_qs(urlsplit(self.path).query).get("sign", [""])[0]
                valid = rsa_verify(public_pem, raw, sign)
                outer.received.append({"body": json.loads(raw), "valid": valid, "path": self.path})
                code = 500 if len(outer.received) <= outer.fail_first else (200 if valid else 400)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        # A batch opens up to PUSHDECK_CALLBACK_CONCURRENCY connections at once.
        self.server = ManyClientsServer(("127.0.0.1", 0), Handler)
        if tls is not None:  # an ssl.SSLContext: the endpoint speaks HTTPS
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?app=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def signing(app):
    private_pem, public_pem = generate_rsa_pair()
    KeyConfig.objects.filter(app=app).update(console_private_key=private_pem, console_public_key=public_pem)
    return public_pem


def enable_callback(app, url):
    keys = KeyConfig.objects.get(app=app)
    keys.callback_enabled = True
    keys.callback_url = url
    keys.save()


@pytest.mark.django_db
def test_receipt_body_is_the_spec_json_signed_with_the_console_key(app, gateways, signing):
    server = CallbackServer(signing)
    try:
        enable_callback(app, server.url)
        make_device(app, "r1", platform="ios")
        task = make_task(app, ["r1"], target_type=TargetType.IOS_DEVICE)
        run_task(task)
        delivery = Delivery.objects.get(message__task=task)
        assert receipt_post(delivery_id=delivery.pk, attempt=1) is True
    finally:
        server.close()
    (hit,) = server.received
    assert hit["valid"] and hit["path"].startswith("/hook?app=1&sign=")
    assert hit["body"] == {
        "msgId": str(delivery.message_id),
        "pushSuccess": True,
        "statusCode": 2,
        "statusDesc": "Acknowledged (device acked or gateway accepted)",
        "targetId": "r1",
        "extInfo": {"adToken": "r1", "osType": "iOS"},
    }
    attempt = CallbackAttempt.objects.get(delivery=delivery)
    assert (attempt.attempt, attempt.response_status, attempt.succeeded) == (1, 200, True)
    assert attempt.body == hit["body"] and attempt.url == server.url


@pytest.mark.parametrize(
    "url", ["https://h.example/hook", "https://h.example/hook?app=1", "https://h.example/h?a=1#top"]
)
def test_the_sign_parameter_is_quoted_as_urlencode_quotes_it(url):
    sign = urlsafe_b64(bytes(range(256)))  # 256 bytes, like an RSA-2048 signature: ends in "=="
    assert sign.endswith("==") and "-" in sign and "_" in sign
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    # A fragment stays on the client's side of a URL: it is not sent
    expected = urlunsplit(parts._replace(query=query + urlencode({"sign": sign}), fragment=""))
    assert _sign_slot(url) + _quote_sign(sign) == expected


@pytest.mark.django_db
def test_a_batch_is_sent_by_several_threads_and_an_error_keeps_what_was_posted(app, gateways, signing, monkeypatch):
    server = CallbackServer(signing)
    try:
        enable_callback(app, server.url)
        tokens = [f"b{i}" for i in range(30)]
        for token in tokens:
            make_device(app, token, platform="ios")
        task = make_task(app, tokens, target_type=TargetType.IOS_DEVICE)
        run_task(task)
        token_of = dict(Delivery.objects.filter(message__task=task).values_list("pk", "device__device_id"))
        ids = sorted(token_of)
        first = {token_of[pk] for pk in ids[:20]}
        result = receipts_send(app_id=app.pk, delivery_ids=ids[:20], attempt=1)
        assert sorted(result.sent) == sorted(ids[:20]) and not (result.failed or result.untried)
        assert {hit["body"]["targetId"] for hit in server.received} == first
        assert all(hit["valid"] for hit in server.received)
        logged = {a.delivery_id: a.body for a in CallbackAttempt.objects.all()}
        message_ids = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "message_id"))
        assert all(body["msgId"] == str(message_ids[pk]) for pk, body in logged.items())
        assert {body["targetId"] for body in logged.values()} == first

        # The signing key breaks after three more receipts: the batch raises, and what was
        # POSTed before is logged, nothing more and nothing less.
        calls = {"n": 0}
        real_sign = receipts.rsa_sign

        def failing_sign(pem, raw):
            calls["n"] += 1
            if calls["n"] > 3:
                raise ValueError("the key could not be used")
            return real_sign(pem, raw)

        monkeypatch.setattr(receipts, "rsa_sign", failing_sign)
        with pytest.raises(ValueError, match="could not be used"):
            receipts_send(app_id=app.pk, delivery_ids=ids[20:], attempt=1)
    finally:
        server.close()
    assert len(server.received) == 23
    assert CallbackAttempt.objects.count() == 23


@pytest.mark.django_db
def test_callback_switched_off_sends_nothing(app, gateways, signing):
    make_device(app, "r2", platform="ios")
    task = make_task(app, ["r2"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    assert receipt_post(delivery_id=Delivery.objects.get(message__task=task).pk, attempt=1) is None
    assert not CallbackAttempt.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_failed_callbacks_are_retried_with_backoff_and_every_attempt_is_logged(
    app,
    gateways,
    signing,
    clean_broker,
    settings,
):
    settings.PUSHDECK_CALLBACK_RETRY_BASE_SECONDS = 0.2
    server = CallbackServer(signing, fail_first=2)
    try:
        enable_callback(app, server.url)
        make_device(app, "r3", platform="ios")
        task = make_task(app, ["r3"], target_type=TargetType.IOS_DEVICE)
        from campaigns.delivery.tasks import dispatch_task

        with start_worker(
            celery_app, pool="threads", concurrency=2, perform_ping_check=False, queues=QUEUES.split(",")
        ):
            dispatch_task.delay(task.pk)
            assert wait_for(lambda: CallbackAttempt.objects.filter(succeeded=True).exists(), 30)
    finally:
        server.close()
    attempts = list(CallbackAttempt.objects.order_by("attempt").values_list("attempt", "response_status", "succeeded"))
    assert attempts == [(1, 500, False), (2, 500, False), (3, 200, True)]
    assert all(hit["valid"] for hit in server.received)
    assert Delivery.objects.get(message__task=task).state == MessageState.ACCEPTED


class SlowServer:
    """A callback endpoint that answers every receipt only after `delay` seconds."""

    def __init__(self, delay):
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.hits += 1
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        # A batch opens up to PUSHDECK_CALLBACK_CONCURRENCY connections at once.
        self.server = ManyClientsServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slow"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def slots_in_use_for_receipts(app_id):
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.CELERY_BROKER_URL).zcard(f"pushdeck:slots:receipts:{app_id}")


def waiting_on_the_self_built_channel(app, count):
    """`count` devices with a self-built message waiting for their ack."""
    devices = [make_device(app, f"{app.pk}-d{i}") for i in range(count)]
    task = make_task(app, [d.device_id for d in devices])
    run_task(task)
    waiting = list(Delivery.objects.filter(message__task=task).select_related("device"))
    assert {d.state for d in waiting} == {MessageState.WAITING}
    return waiting


def ack_all(waiting):
    """Each device acks: each ack records the delivery and queues its receipt."""
    from campaigns.delivery.selfbuilt import device_ack

    for delivery in waiting:
        device_ack(device=delivery.device, push_ids=[str(delivery.push_id)])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_slow_endpoint_delays_only_its_own_apps_receipts(app, other_app, clean_broker, settings):
    settings.PUSHDECK_CALLBACK_BATCH = 5
    settings.PUSHDECK_CALLBACK_APP_TASKS = 1
    settings.PUSHDECK_CALLBACK_RETRY_BASE_SECONDS = 30
    slow = SlowServer(delay=10)
    for each in (app, other_app):
        private_pem, public_pem = generate_rsa_pair()
        KeyConfig.objects.filter(app=each).update(console_private_key=private_pem, console_public_key=public_pem)
    fast = CallbackServer(KeyConfig.objects.get(app=other_app).console_public_key)
    try:
        enable_callback(app, slow.url)
        enable_callback(other_app, fast.url)
        slow_waiting, fast_waiting = (
            waiting_on_the_self_built_channel(app, 20),
            waiting_on_the_self_built_channel(other_app, 10),
        )
        with start_worker(celery_app, pool="threads", concurrency=3, perform_ping_check=False, queues=["receipts"]):
            ack_all(slow_waiting)  # four batches queued first, all for the slow endpoint
            started = time.monotonic()
            ack_all(fast_waiting)
            assert wait_for(lambda: len(fast.received) == 10, 8), len(fast.received)
            elapsed = time.monotonic() - started
            # Stop the slow app's queued batches and let its one batch in flight end with the worker.
            KeyConfig.objects.filter(app=app).update(callback_enabled=False)
            assert wait_for(lambda: slots_in_use_for_receipts(app.pk) == 0, 15)
    finally:
        slow.close()
        fast.close()
    assert elapsed < 5
    assert all(hit["valid"] for hit in fast.received)
    assert sorted(h["body"]["targetId"] for h in fast.received) == sorted(f"{other_app.pk}-d{i}" for i in range(10))
    # The slow app held one batch at a time: at most one batch of POSTs ever reached its endpoint.
    assert 1 <= slow.hits <= 5
    assert CallbackAttempt.objects.filter(app=other_app, succeeded=True).count() == 10


def _accepted_deliveries(app, prefix: str, count: int) -> list[int]:
    tokens = [f"{prefix}{i}" for i in range(count)]
    for token in tokens:
        make_device(app, token, platform="ios")
    task = make_task(app, tokens, target_type=TargetType.IOS_DEVICE)
    run_task(task)
    return list(Delivery.objects.filter(message__task=task).values_list("pk", flat=True))


@pytest.mark.django_db
def test_a_batch_run_again_after_it_ended_sends_nothing_twice(app, gateways, signing):
    server = CallbackServer(signing)
    try:
        ids = _accepted_deliveries(app, "again", 6)
        enable_callback(app, server.url)
        assert len(receipts_send(app_id=app.pk, delivery_ids=ids[:4], attempt=1).sent) == 4
        # The same batch again (a task delivered twice), and a batch that overlaps it.
        assert receipts_send(app_id=app.pk, delivery_ids=ids[:4], attempt=1).sent == []
        assert sorted(receipts_send(app_id=app.pk, delivery_ids=ids, attempt=1).sent) == sorted(ids[4:])
    finally:
        server.close()
    assert len(server.received) == 6 == len({hit["body"]["msgId"] for hit in server.received})
    assert CallbackAttempt.objects.count() == 6


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_one_batch_run_twice_at_the_same_moment_posts_each_receipt_once(app, gateways, signing, clean_broker, settings):
    """Two workers take the same batch at once (a redelivered task): one sends it; the other
    comes back later, finds it logged, and sends nothing."""
    from celery.signals import task_postrun

    settings.PUSHDECK_CALLBACK_APP_TASKS = 4  # the app's cap is not what keeps them apart
    settings.PUSHDECK_SLOT_RETRY_SECONDS = 0.5
    runs = []

    def count(sender=None, args=None, **_kwargs):
        if sender is not None and sender.name == send_receipts.name:
            runs.append(args)

    task_postrun.connect(count, weak=False)
    server = CallbackServer(signing, delay=0.3)  # slow enough for the two runs to overlap
    try:
        ids = _accepted_deliveries(app, "twice", 10)
        enable_callback(app, server.url)
        with start_worker(celery_app, pool="threads", concurrency=2, perform_ping_check=False, queues=["receipts"]):
            send_receipts.delay(app.pk, ids)
            send_receipts.delay(app.pk, ids)
            # Both runs, and the one that came back (without the lock there are only two).
            wait_for(lambda: len(runs) >= 3, 15)
            time.sleep(0.5)
    finally:
        task_postrun.disconnect(count)
        server.close()
    assert len(server.received) == 10, len(server.received)
    assert len({hit["body"]["msgId"] for hit in server.received}) == 10
    assert all(hit["valid"] for hit in server.received)
    assert CallbackAttempt.objects.count() == 10
    assert len(runs) == 3, runs


@pytest.mark.django_db
def test_a_batch_posts_only_the_receipts_of_its_own_app(app, other_app, gateways, signing):
    server = CallbackServer(signing)
    try:
        ids = _accepted_deliveries(app, "own", 3)
        enable_callback(app, server.url)
        stranger = Delivery.objects.select_related("message").get(pk=ids[0]).message
        Message.objects.filter(pk=stranger.pk).update(app=other_app)  # as if another app's delivery
        assert sorted(receipts_send(app_id=app.pk, delivery_ids=ids, attempt=1).sent) == sorted(ids[1:])
    finally:
        server.close()
    assert sorted(hit["body"]["msgId"] for hit in server.received) == sorted(
        str(m) for m in Delivery.objects.filter(pk__in=ids[1:]).values_list("message_id", flat=True)
    )
    assert all(hit["valid"] for hit in server.received)


@pytest.mark.django_db
def test_a_batch_is_read_by_primary_keys_even_when_the_statistics_say_the_tables_are_empty(app, gateways):
    """Statistics taken on empty tables, then a big send's rows: the batch's reads must not walk
    the app's messages (a join planned from such statistics did, for every batch)."""
    if connection.vendor != "postgresql":
        pytest.skip("the plans are PostgreSQL's")
    ids = _accepted_deliveries(app, "plan", 2)
    with connection.cursor() as cursor:
        for table in ("campaigns_message", "campaigns_delivery", "campaigns_device"):
            cursor.execute(f"ANALYZE {table}")
    # Then 30,000 more messages of the app that the statistics know nothing of.
    insert_messages(Delivery.objects.get(pk=ids[0]).message.task, 1, 30_000)
    with CaptureQueriesContext(connection) as captured:
        rows = receipts._receipt_rows(app.pk, ids)
    assert sorted(row[0] for row in rows) == sorted(ids)
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(line for (line,) in cursor.fetchall()))
    for plan in plans:
        # A table's own rows may be read whole when it is small; the messages never are.
        assert "message_app" not in plan and "Seq Scan on campaigns_message" not in plan, plan
        assert "Join" not in plan and "Nested Loop" not in plan, plan
    assert len(plans) == 3  # deliveries, their messages, their devices
