"""The client API a phone calls: HMAC-signed, limits of the SPEC, bad input changes nothing."""

from __future__ import annotations

import pytest

from campaigns.delivery import device_api
from campaigns.models import Device, DeviceAlias, Tag, UserBinding
from tests.apiclient import SignedClient

pytestmark = pytest.mark.django_db

APNS = "a" * 64


@pytest.fixture
def api(client, app):
    return SignedClient(client, app, kind="client")


def call(api, op, payload, **kw):
    response = api.post(f"/api/v1/client/{op}", payload, **kw)
    return response.status_code, response.json()


def report(api, device_id="dev-1", **extra):
    return call(api, "device/report", {"deviceId": device_id, "platform": "android", **extra})


def test_report_device_creates_and_updates_it(api, app):
    status, body = report(
        api, manufacturer="HUAWEI", vendor="huawei", vendorToken="tok", appVersion="1.2", packageName="com.x"
    )
    assert status == 200 and body["resultCode"] == 100
    device = Device.objects.get(app=app, device_id="dev-1")
    assert (device.vendor, device.vendor_token, device.app_version, device.package_name) == (
        "huawei",
        "tok",
        "1.2",
        "com.x",
    )
    status, body = call(api, "device/report", {"deviceId": "ios-1", "platform": "ios", "apnsToken": APNS.upper()})
    assert body["resultCode"] == 100
    assert Device.objects.get(device_id="ios-1").apns_token == APNS


def test_new_token_revives_a_dead_device(api, app):
    report(api, vendor="huawei", vendorToken="old")
    Device.objects.filter(device_id="dev-1").update(token_dead_reason="x", token_dead_at="2026-01-01T00:00Z")
    report(api, vendor="huawei", vendorToken="new")
    assert Device.objects.get(device_id="dev-1").token_dead_at is None


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"platform": "android"}, "deviceId"),
        ({"deviceId": "bad id with spaces", "platform": "android"}, "deviceId"),
        ({"deviceId": "x" * 129, "platform": "android"}, "deviceId"),
        ({"deviceId": "d", "platform": "ios", "apnsToken": "abc"}, "apnsToken"),
        ({"deviceId": "d", "platform": "ios"}, "apnsToken"),
        ({"deviceId": "d", "platform": "android", "vendor": "nokia", "vendorToken": "t"}, "vendor"),
        ({"deviceId": "d", "platform": "android", "vendor": "huawei"}, "vendorToken"),
        ({"deviceId": "d", "platform": "android", "appVersion": 12}, "appVersion"),
    ],
)
def test_report_device_refuses_bad_input(api, app, payload, field):
    status, body = call(api, "device/report", payload)
    assert body["resultCode"] == 3028 and field in body["detail"]
    assert not Device.objects.filter(app=app).exists()


def test_unknown_platform_is_3008(api):
    assert call(api, "device/report", {"deviceId": "d", "platform": "symbian"})[1]["resultCode"] == 3008


def test_bad_signature_wrong_app_and_replayed_nonce_are_refused(api, app, client, other_app):
    status, body = call(api, "device/report", {"deviceId": "d", "platform": "android"}, signature="bogus")
    assert (status, body["resultCode"]) == (401, -1)
    wrong = SignedClient(client, app, kind="client")
    wrong.app = type("A", (), {"app_key": app.app_key, "app_secret": other_app.app_secret})()
    assert call(wrong, "device/report", {"deviceId": "d", "platform": "android"})[1]["resultCode"] == -1
    assert call(api, "device/report", {"deviceId": "d", "platform": "android"}, nonce="n1")[1]["resultCode"] == 100
    assert call(api, "device/report", {"deviceId": "e", "platform": "android"}, nonce="n1")[1]["resultCode"] == -1
    assert list(Device.objects.values_list("device_id", flat=True)) == ["d"]
    assert api.client.get("/api/v1/client/device/report").status_code == 405


def test_bind_and_unbind_user_account_phone(api, app):
    report(api)
    assert call(api, "user/bind", {"deviceId": "dev-1", "userId": "alice"})[1]["resultCode"] == 100
    assert UserBinding.objects.filter(app=app, user_id="alice").count() == 1
    # A device nobody reported has no credential: refused before anything is looked at.
    assert call(api, "user/bind", {"deviceId": "nope", "userId": "alice"})[1]["resultCode"] == -1
    assert call(api, "user/bind", {"deviceId": "dev-1", "userId": ""})[1]["resultCode"] == 3028
    assert call(api, "user/unbind", {"deviceId": "dev-1", "userId": "alice"})[1]["unbound"] == 1
    device = Device.objects.get(device_id="dev-1")
    assert not device.logged_in and device.logged_out_at is not None
    call(api, "account/bind", {"deviceId": "dev-1", "account": "acct-9"})
    assert Device.objects.get(device_id="dev-1").account == "acct-9"
    assert call(api, "account/bind", {"deviceId": "dev-1", "account": "x" * 129})[1]["resultCode"] == 3028
    assert Device.objects.get(device_id="dev-1").account == "acct-9"
    call(api, "account/unbind", {"deviceId": "dev-1"})
    assert Device.objects.get(device_id="dev-1").account == ""
    assert call(api, "phone/bind", {"deviceId": "dev-1", "phoneNumber": "+8613800000000"})[1]["resultCode"] == 100
    assert call(api, "phone/bind", {"deviceId": "dev-1", "phoneNumber": "call me"})[1]["resultCode"] == 3028
    assert Device.objects.get(device_id="dev-1").phone_number == "+8613800000000"


def test_alias_limits(api, app, monkeypatch):
    report(api)
    report(api, "dev-2")
    aliases = [f"al{i}" for i in range(device_api.MAX_ALIASES_PER_DEVICE)]
    assert call(api, "alias/add", {"deviceId": "dev-1", "aliases": aliases})[1]["added"] == 128
    status, body = call(api, "alias/add", {"deviceId": "dev-1", "aliases": ["one-more"]})
    assert body["resultCode"] == 3028 and "128 aliases" in body["detail"]
    assert call(api, "alias/add", {"deviceId": "dev-1", "aliases": ["x" * 129]})[1]["resultCode"] == 3028
    assert call(api, "alias/add", {"deviceId": "dev-1", "aliases": []})[1]["resultCode"] == 3028
    assert call(api, "alias/remove", {"deviceId": "dev-1", "aliases": ["al0"]})[1]["removed"] == 1
    # 128 devices per alias.
    device = Device.objects.get(device_id="dev-1")
    others = Device.objects.bulk_create(
        Device(app=app, device_id=f"o{i}", platform="android") for i in range(device_api.MAX_DEVICES_PER_ALIAS)
    )
    DeviceAlias.objects.bulk_create(DeviceAlias(app=app, device=d, alias="crowded") for d in others)
    body = call(api, "alias/add", {"deviceId": "dev-2", "aliases": ["crowded"]})[1]
    assert body["resultCode"] == 3028 and "128 devices" in body["detail"]
    assert DeviceAlias.objects.filter(alias="crowded").count() == 128
    assert DeviceAlias.objects.filter(device=device).count() == 127


def test_tag_limits(api, app):
    report(api)
    assert call(api, "tag/add", {"deviceId": "dev-1", "tags": ["vip", "beta"]})[1]["tags"] == 2
    assert set(Tag.objects.get(app=app, name="vip").devices.values_list("device_id", flat=True)) == {"dev-1"}
    assert call(api, "tag/add", {"deviceId": "dev-1", "tags": ["t" * 129]})[1]["resultCode"] == 3028
    Tag.objects.bulk_create(Tag(app=app, name=f"bulk{i}") for i in range(device_api.MAX_TAGS_PER_APP - 2))
    body = call(api, "tag/add", {"deviceId": "dev-1", "tags": ["too-many"]})[1]
    assert body["resultCode"] == 3028 and "10000 tags" in body["detail"]
    assert not Tag.objects.filter(name="too-many").exists()
    # An existing tag can still be added to more devices.
    assert call(api, "tag/add", {"deviceId": "dev-1", "tags": ["bulk1"]})[1]["resultCode"] == 100
    assert call(api, "tag/remove", {"deviceId": "dev-1", "tags": ["vip"]})[1]["removed"] == 1
    assert not Tag.objects.get(name="vip").devices.exists()


def test_body_must_be_json_object(api):
    assert api.post("/api/v1/client/device/report", raw=b"[1,2]").json()["resultCode"] == 3028
    assert api.post("/api/v1/client/device/report", raw=b"{bad").json()["resultCode"] == 3028
    assert api.post("/api/v1/client/device/report", raw=b"\xff\xfe").json()["resultCode"] == 3031
