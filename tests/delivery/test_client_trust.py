"""Client-API trust: the AppSecret inside every installed app only registers new devices; each
device proves its own deviceSecret; calls are rate-limited per app and per device."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from campaigns.models import Delivery, Device, MessageState, UserBinding
from console.services import app_secret_rotate
from tests.apiclient import SignedClient

from .conftest import make_task, run_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def phone(client, app, clean_broker):
    """The real phone: registers with the AppSecret and keeps the deviceSecret it is given."""
    api = SignedClient(client, app, kind="client")
    answer = api.post("/api/v1/client/device/report", {"deviceId": "victim", "platform": "android"}).json()
    assert answer["resultCode"] == 100 and len(answer["deviceSecret"]) >= 32
    return api


@pytest.fixture
def attacker(app):
    """Someone who extracted the AppSecret from the app package, and nothing else."""
    return SignedClient(Client(), app, kind="client")


def code(response):
    return response.status_code, response.json()["resultCode"]


def test_with_only_the_app_secret_another_device_cannot_be_polled_acked_bound_or_re_reported(phone, attacker, app):
    task = make_task(app, ["victim"])
    run_task(task)
    delivery = Delivery.objects.get(message__task=task)
    assert delivery.state == MessageState.WAITING
    before = Device.objects.values().get(device_id="victim")
    calls = [
        ("poll", {"deviceId": "victim", "wait": 0}),
        ("ack", {"deviceId": "victim", "pushIds": [str(delivery.push_id)]}),
        ("user/bind", {"deviceId": "victim", "userId": "attacker-account"}),
        ("phone/bind", {"deviceId": "victim", "phoneNumber": "+8613800000000"}),
        ("device/report", {"deviceId": "victim", "platform": "android", "vendor": "huawei", "vendorToken": "mine"}),
    ]
    for op, payload in calls:
        assert code(attacker.post(f"/api/v1/client/{op}", payload, as_device="")) == (401, -1), op
    # Forged device headers do not help: the signature must be under that device's own secret.
    attacker.device_secrets["victim"] = "guessed"
    assert code(attacker.post("/api/v1/client/poll", {"deviceId": "victim", "wait": 0})) == (401, -1)
    assert Device.objects.values().get(device_id="victim") == before
    assert not UserBinding.objects.exists()
    assert Delivery.objects.get(pk=delivery.pk).state == MessageState.WAITING
    # The phone itself still gets its message.
    messages = phone.post("/api/v1/client/poll", {"deviceId": "victim", "wait": 0}).json()["messages"]
    assert [m["pushId"] for m in messages] == [str(delivery.push_id)]


def test_a_device_credential_acts_only_on_its_own_device(phone, app):
    other = phone.post("/api/v1/client/device/report", {"deviceId": "other", "platform": "android"}).json()
    assert other["resultCode"] == 100
    hijack = phone.post("/api/v1/client/user/bind", {"deviceId": "other", "userId": "u"}, as_device="victim")
    assert code(hijack) == (401, -1)
    # With no deviceId in the body, the call is about the device that signed it.
    assert phone.post("/api/v1/client/user/bind", {"userId": "u"}, as_device="victim").json()["resultCode"] == 100
    assert list(UserBinding.objects.values_list("device__device_id", flat=True)) == ["victim"]


def test_the_secret_is_answered_once_and_re_reports_are_signed_with_it(phone, app):
    again = phone.post("/api/v1/client/device/report", {"deviceId": "victim", "platform": "android", "appVersion": "2"})
    assert again.json()["resultCode"] == 100 and "deviceSecret" not in again.json()
    assert Device.objects.get(device_id="victim").app_version == "2"
    stored = Device.objects.get(device_id="victim").client_secret
    assert stored == phone.device_secrets["victim"]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM campaigns_device WHERE device_id = 'victim'")
        assert cursor.fetchone()[0] != stored  # encrypted at rest


def test_rotating_the_app_secret_keeps_registered_devices_working(phone, app, channel_admin, attacker):
    old = SignedClient(Client(), app, kind="client")
    old.app = type("OldApp", (), {"app_key": app.app_key, "app_secret": app.app_secret})()
    app_secret_rotate(app=app, actor=channel_admin)
    app.refresh_from_db()
    assert phone.post("/api/v1/client/poll", {"deviceId": "victim", "wait": 0}).json()["resultCode"] == 100
    assert phone.post("/api/v1/client/user/bind", {"deviceId": "victim", "userId": "u1"}).json()["resultCode"] == 100
    # New installs register under the new AppSecret only.
    assert (
        old.post("/api/v1/client/device/report", {"deviceId": "n1", "platform": "android"}).json()["resultCode"] == -1
    )
    fresh = SignedClient(Client(), app, kind="client")
    assert (
        fresh.post("/api/v1/client/device/report", {"deviceId": "n2", "platform": "android"}).json()["resultCode"]
        == 100
    )
    assert set(Device.objects.values_list("device_id", flat=True)) == {"victim", "n2"}


def test_per_device_and_per_app_rate_limits_answer_429(phone, app, settings):
    settings.PUSHDECK_CLIENT_DEVICE_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        assert phone.post("/api/v1/client/poll", {"deviceId": "victim", "wait": 0}).status_code == 200
    limited = phone.post("/api/v1/client/user/bind", {"deviceId": "victim", "userId": "u"})
    assert code(limited) == (429, 3028) and 1 <= int(limited["Retry-After"]) <= 60
    assert not UserBinding.objects.exists()
    # Another device of the same app is not held back by this one.
    phone.post("/api/v1/client/device/report", {"deviceId": "calm", "platform": "android"})
    assert phone.post("/api/v1/client/poll", {"deviceId": "calm", "wait": 0}).status_code == 200
    settings.PUSHDECK_CLIENT_RATE_LIMIT_PER_MINUTE = 1  # the app's window has seen several calls already
    refused = phone.post("/api/v1/client/device/report", {"deviceId": uuid.uuid4().hex, "platform": "android"})
    assert code(refused) == (429, 3028)
    assert Device.objects.count() == 2


def test_nonces_are_kept_in_redis_not_in_rows(phone, app):
    from console.models import ApiNonce

    first = phone.post("/api/v1/client/poll", {"deviceId": "victim", "wait": 0}, nonce="same-nonce")
    replay = phone.post("/api/v1/client/poll", {"deviceId": "victim", "wait": 0}, nonce="same-nonce")
    assert first.json()["resultCode"] == 100 and code(replay) == (401, -1)
    assert not ApiNonce.objects.exists()


def test_the_openapi_document_tells_sdk_authors_how_devices_sign(client):
    doc = client.get("/api/v1/openapi.json").json()
    report = doc["paths"]["/api/v1/client/device/report"]["post"]
    assert "deviceSecret" in report["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    names = {p["name"] for p in doc["paths"]["/api/v1/client/poll"]["post"]["parameters"]}
    assert "X-Pushdeck-Device-Id" in names


@pytest.mark.django_db(transaction=True)
def test_one_new_device_reported_twice_at_the_same_moment_gets_one_secret(app, clean_broker):
    """The first report is one INSERT with no read before it: the second, blocked on the unique
    index until the first commits, is refused as a registered device (not a 500), and the row
    keeps the first caller's secret."""
    from tests.concurrency import at_the_same_moment

    body = {"deviceId": "twin", "platform": "android"}
    answers = at_the_same_moment(
        # Both under the AppSecret, as two phones with the same id would sign (not as the device
        # the other one registered, even when that one commits first)
        lambda: SignedClient(Client(), app, kind="client").post("/api/v1/client/device/report", body, as_device="")
    )
    codes = sorted(code(a) for a in answers)
    assert codes == [(200, 100), (401, -1)], [a.content for a in answers]
    secret = next(a.json()["deviceSecret"] for a in answers if a.json()["resultCode"] == 100)
    assert Device.objects.get(app=app, device_id="twin").client_secret == secret
