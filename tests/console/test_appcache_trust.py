"""Calls that end in one guarded write (the four sends, a device report) trust the app
configuration the process keeps (console.appcache): they read no generation first, and the
write checks it. A call whose kept configuration moved meanwhile is answered again under the
new one: refused when the change refuses it, written once when it does not."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Device, Message, PushTask
from console import appcache
from console.models import AuditEntry, KeyConfig
from console.security.models import ApiRateLimit
from tests.apiclient import SignedClient, enable_server_api, nonces_recorded
from tests.campaigns import send_fixtures

pytestmark = pytest.mark.django_db

api = send_fixtures.api  # a server-API client with the Push API on


@pytest.fixture(autouse=True)
def fresh_cache():
    appcache.forget()
    yield
    appcache.forget()


@pytest.fixture
def phone(app, client):
    return SignedClient(client, app, kind="client")


def statements(queries) -> list[str]:
    """What the calls sent, without the savepoints of the test's own transaction."""
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


def push(api, n: int, **extra):
    body = {
        "taskName": "trust",
        "deliveryType": 1,
        "targetMsgkey": {f"dev-{n}": f"m-{n}"},
        "title": "Hi",
        "body": "There",
        **extra,
    }
    return api.post("/api/v1/push/simple", body).json()


def report(phone, device_id: str):
    return phone.post("/api/v1/client/device/report", {"deviceId": device_id, "platform": "android"}, as_device="")


def test_a_push_and_a_registration_read_no_generation_before_their_write(api, phone, app):
    assert push(api, 1)["resultCode"] == 100  # the process keeps the app from here on
    assert report(phone, "phone-1").json()["resultCode"] == 100
    with CaptureQueriesContext(connection) as queries:
        assert push(api, 2)["resultCode"] == 100
        assert report(phone, "phone-2").json()["resultCode"] == 100
    sent = statements(queries)
    assert appcache.GENERATION_SQL not in sent
    assert len(sent) == 2 and all("pushdeck_appconfig_generation" in s for s in sent)
    assert PushTask.objects.filter(app=app).count() == 2
    assert Device.objects.filter(app=app, device_id__in=["phone-1", "phone-2"]).count() == 2


@pytest.mark.parametrize("change", ["switched off", "new key"])
def test_a_push_trusting_a_configuration_that_moved_is_refused_under_the_new_one(api, app, change):
    assert push(api, 1)["resultCode"] == 100
    if change == "switched off":
        KeyConfig.objects.filter(app=app).update(api_enabled=False)
        expected = 3032
    else:
        enable_server_api(app)  # a new public key: the client still signs with the old private key
        expected = -1
    answer = push(api, 2)
    assert answer["resultCode"] == expected
    assert PushTask.objects.filter(app=app).count() == 1
    assert not Message.objects.filter(app=app, customer_msg_id="m-2").exists()
    assert AuditEntry.objects.filter(action="send.submit", app=app).count() == 1


def test_a_push_whose_configuration_moved_but_still_admits_it_is_written_once(api, app):
    assert push(api, 1)["resultCode"] == 100
    ApiRateLimit.objects.update_or_create(app=app, defaults={"per_minute": 1000})
    before = nonces_recorded(app)
    answer = push(api, 2)
    assert answer["resultCode"] == 100
    assert PushTask.objects.filter(app=app).count() == 2
    assert Message.objects.filter(app=app, customer_msg_id="m-2").count() == 1
    assert AuditEntry.objects.filter(action="send.submit", target=f"task {answer['pushResult']['taskId']}").count() == 1
    assert nonces_recorded(app) == before + 1  # the call's nonce, taken once
    # The answer again refreshed what the process keeps: the next push trusts the new configuration.
    with CaptureQueriesContext(connection) as queries:
        assert push(api, 3)["resultCode"] == 100
    assert len(statements(queries)) == 1


def test_a_repeated_idempotency_key_is_not_answered_under_a_configuration_that_moved(api, app):
    first = push(api, 1, idempotentToken="once")
    assert first["resultCode"] == 100
    KeyConfig.objects.filter(app=app).update(api_enabled=False)
    again = push(api, 1, idempotentToken="once")
    assert again["resultCode"] == 3032 and "pushResult" not in again


def test_a_registration_under_a_rotated_app_secret_is_refused_and_writes_no_device(phone, app):
    assert report(phone, "phone-1").json()["resultCode"] == 100
    phone.app = type("OldApp", (), {"app_key": app.app_key, "app_secret": app.app_secret})()
    app.app_secret = "rotated-" + app.app_secret[:20]
    app.save(update_fields=["app_secret"])
    answer = report(phone, "phone-2").json()  # signed with the old AppSecret
    assert answer["resultCode"] == -1
    assert not Device.objects.filter(app=app, device_id="phone-2").exists()
    phone.app = app
    assert report(phone, "phone-3").json()["resultCode"] == 100


def test_a_push_refused_under_a_kept_configuration_is_answered_again_when_it_moved(api, app):
    KeyConfig.objects.filter(app=app).update(api_enabled=False)
    assert push(api, 1)["resultCode"] == 3032  # the process keeps the app with its API off
    KeyConfig.objects.filter(app=app).update(api_enabled=True)
    answer = push(api, 2)
    assert answer["resultCode"] == 100
    assert PushTask.objects.filter(app=app).count() == 1
    # One refusal in the audit: the first call's. The second was not refused under the old one.
    refusals = AuditEntry.objects.filter(app=app, action__in=["api.refused", "api.push.refused"])
    assert refusals.count() == 1


def test_a_replayed_call_stays_refused_when_the_configuration_moved_meanwhile(api, app):
    body = {"taskName": "trust", "deliveryType": 1, "targetMsgkey": {"dev-1": "m-1"}, "title": "Hi", "body": "There"}
    stamp = int(time.time() * 1000)
    assert api.post("/api/v1/push/simple", body, timestamp=stamp, nonce="once").json()["resultCode"] == 100
    ApiRateLimit.objects.update_or_create(app=app, defaults={"per_minute": 1000})  # the configuration moves
    replay = api.post("/api/v1/push/simple", body, timestamp=stamp, nonce="once").json()
    assert replay["resultCode"] == -1 and "nonce" in replay["detail"]
    assert PushTask.objects.filter(app=app).count() == 1
