"""Delivery receipts: the SPEC body POSTed to the callback URL, RSA-signed, retried, every attempt logged."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from celery.contrib.testing.worker import start_worker

from campaigns.delivery.receipts import receipt_post
from campaigns.models import CallbackAttempt, Delivery, MessageState, TargetType
from console.celery import app as celery_app
from console.keys import generate_rsa_pair, rsa_verify
from console.models import KeyConfig

from .conftest import make_device, make_task, run_task, wait_for
from .test_worker_queue import QUEUES


class CallbackServer:
    """The customer's callback endpoint: checks the signature with the console public key."""

    def __init__(self, public_pem, fail_first=0):
        self.received = []
        self.fail_first = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                sign = parse_qs(urlsplit(self.path).query).get("sign", [""])[0]
                valid = rsa_verify(public_pem, raw, sign)
                outer.received.append({"body": json.loads(raw), "valid": valid, "path": self.path})
                code = 500 if len(outer.received) <= outer.fail_first else (200 if valid else 400)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
