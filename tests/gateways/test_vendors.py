"""Vendor gateways (Huawei, Xiaomi, OPPO, vivo, Honor, Meizu) against their local fakes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest

from campaigns.gateways import GATEWAYS, GatewayError
from campaigns.gateways.base import OutgoingPush
from console.models import VendorChannel
from tests.fakes.vendors import FakeHonor, FakeHuawei, FakeMeizu, FakeOppo, FakeVivo, FakeXiaomi, meizu_sign

PACKAGE = "com.example.android"


def push(token: str, **kw) -> OutgoingPush:
    fields = {
        "delivery_id": 1,
        "push_id": str(uuid.uuid4()),
        "token": token,
        "platform": "android",
        "title": "Sale",
        "body": "Half price today",
        # computed per push: the suite may run long after this module is imported
        "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
        "click_action": "open_url",
        "url": "https://shop.example.com/sale",
        "package_name": PACKAGE,
        "extras": {"campaign": "spring"},
    }
    fields.update(kw)
    return OutgoingPush(**fields)


@dataclass
class Vendor:
    name: str
    fake: Any
    credential: VendorChannel
    send_suffix: str
    batch_calls: int  # requests one multi-token batch makes (content saved first for OPPO / vivo)

    def gateway(self, **over):
        credential = self.credential
        if over:
            credential = VendorChannel(vendor=credential.vendor, **{**_fields(credential), **over})
        return GATEWAYS[self.name](credential, package_name=PACKAGE)


def _fields(channel: VendorChannel) -> dict:
    return {
        "vendor_app_id": channel.vendor_app_id,
        "vendor_app_key": channel.vendor_app_key,
        "secrets": channel.secrets,
    }


def _channel(vendor: str, app_id: str = "", app_key: str = "", **secret) -> VendorChannel:
    return VendorChannel(
        vendor=vendor, enabled=True, vendor_app_id=app_id, vendor_app_key=app_key, secrets=json.dumps(secret)
    )


@pytest.fixture(params=["huawei", "xiaomi", "oppo", "vivo", "honor", "meizu"])
def vendor(request, settings):
    name = request.param
    if name == "huawei":
        fake = FakeHuawei(app_id="10086", app_secret="hw-secret").start()
        settings.HUAWEI_URL = fake.url
        settings.HUAWEI_TOKEN_URL = fake.token_url
        v = Vendor(name, fake, _channel("huawei", "10086", app_secret="hw-secret"), "messages:send", 1)
    elif name == "xiaomi":
        fake = FakeXiaomi(app_secret="mi-secret", package_name=PACKAGE).start()
        settings.XIAOMI_URL = fake.url
        v = Vendor(name, fake, _channel("xiaomi", app_secret="mi-secret"), "/v3/message/regid", 1)
    elif name == "oppo":
        fake = FakeOppo(app_key="oppo-key", master_secret="oppo-master").start()
        settings.OPPO_URL = fake.url
        v = Vendor(name, fake, _channel("oppo", app_key="oppo-key", master_secret="oppo-master"), "/unicast", 2)
    elif name == "vivo":
        fake = FakeVivo(app_id="1001", app_key="vivo-key", app_secret="vivo-secret").start()
        settings.VIVO_URL = fake.url
        v = Vendor(name, fake, _channel("vivo", "1001", "vivo-key", master_secret="vivo-secret"), "/message/send", 2)
    elif name == "honor":
        fake = FakeHonor(app_id="104400", client_id="honor-client", client_secret="honor-secret").start()
        settings.HONOR_URL = fake.url
        settings.HONOR_TOKEN_URL = fake.token_url
        v = Vendor(
            name, fake, _channel("honor", "104400", "honor-client", client_secret="honor-secret"), "/sendMessage", 1
        )
    else:
        fake = FakeMeizu(app_id="110", app_secret="mz-secret").start()
        settings.MEIZU_URL = fake.url
        v = Vendor(name, fake, _channel("meizu", "110", app_secret="mz-secret"), "/pushByPushId", 1)
    yield v
    fake.stop()


def _sends(v: Vendor):
    return [r for r in v.fake.requests if not r.path.endswith(("/auth", "/token", "/oauth2/v3/token", "/auth/token"))]


def test_success_sends_the_vendor_request(vendor):
    gateway = vendor.gateway()
    p = push("tok-good-1")
    (result,) = gateway.send_batch([p])
    assert result.accepted and not result.token_dead
    (request,) = _sends(vendor)
    check_single_request(vendor, request, p)
    gateway.close()


def check_single_request(v: Vendor, request, p: OutgoingPush) -> None:
    """What each vendor expects on the wire (GATEWAYS.md)."""
    if v.name == "huawei":
        assert request.path == "/v1/10086/messages:send"
        assert request.headers["authorization"].startswith("Bearer ")
        message = request.json["message"]
        assert message["token"] == [p.token]
        assert message["android"]["notification"]["title"] == p.title
        assert message["android"]["notification"]["click_action"] == {"type": 2, "url": p.url}
        assert json.loads(message["data"])["pushId"] == p.push_id
        assert 6900 <= int(message["android"]["ttl"].rstrip("s")) <= 7200
    elif v.name == "xiaomi":
        form = request.form
        assert request.headers["authorization"] == "key=mi-secret"
        assert form["registration_id"] == p.token and form["restricted_package_name"] == PACKAGE
        assert form["title"] == p.title and form["description"] == p.body
        assert form["extra.notify_effect"] == "3" and form["extra.web_uri"] == p.url
        assert json.loads(unquote(form["payload"]))["campaign"] == "spring"
        assert 6900_000 <= int(form["time_to_live"]) <= 7200_000  # milliseconds
    elif v.name == "oppo":
        (auth,) = v.fake.requests_to("/auth")
        form = auth.form
        assert form["sign"] == hashlib.sha256(f"oppo-key{form['timestamp']}oppo-master".encode()).hexdigest()
        message = json.loads(request.form["message"])
        assert request.form["auth_token"] in v.fake.tokens
        assert message["target_type"] == 2 and message["target_value"] == p.token
        assert (
            message["notification"]["click_action_type"] == 2 and message["notification"]["click_action_url"] == p.url
        )
    elif v.name == "vivo":
        (auth,) = v.fake.requests_to("/message/auth")
        body = auth.json
        assert body["sign"] == hashlib.md5(f"1001vivo-key{body['timestamp']}vivo-secret".encode()).hexdigest()
        assert request.headers["authtoken"] in v.fake.tokens
        assert (
            request.json["regId"] == p.token and request.json["skipType"] == 2 and request.json["skipContent"] == p.url
        )
        assert request.json["clientCustomMap"] == {"campaign": "spring"}
    elif v.name == "honor":
        assert request.path == "/api/v1/104400/sendMessage"
        assert request.headers["authorization"].startswith("Bearer ") and request.headers["timestamp"].isdigit()
        assert request.json["token"] == [p.token]
        assert request.json["android"]["notification"]["clickAction"] == {"type": 2, "url": p.url}
    else:
        form = request.form
        sign = form.pop("sign")
        assert sign == meizu_sign(form, "mz-secret") and form["appId"] == "110" and form["pushIds"] == p.token
        assert json.loads(form["messageJson"])["clickTypeInfo"]["url"] == p.url


def test_same_content_goes_in_one_batch_call_and_dead_tokens_are_reported(vendor):
    vendor.fake.invalid_tokens.add("tok-dead")
    gateway = vendor.gateway()
    pushes = [push("tok-a"), push("tok-dead"), push("tok-b")]
    results = gateway.send_batch(pushes)
    assert [r.accepted for r in results] == [True, False, True]
    assert results[1].token_dead and results[1].permanent and results[1].code is not None
    assert len(_sends(vendor)) == vendor.batch_calls
    gateway.close()


def test_different_content_goes_in_separate_calls(vendor):
    gateway = vendor.gateway()
    results = gateway.send_batch([push("tok-a", title="One"), push("tok-b", title="Two")])
    assert all(r.accepted for r in results)
    assert len(_sends(vendor)) == 2
    gateway.close()


def test_invalid_token_marks_token_dead(vendor):
    vendor.fake.invalid_tokens.add("tok-dead")
    gateway = vendor.gateway()
    (result,) = gateway.send_batch([push("tok-dead")])
    assert not result.accepted and result.token_dead and result.permanent
    gateway.close()


def test_413_is_a_permanent_bad_request(vendor):
    vendor.fake.fail_next(413, "Request Entity Too Large")
    gateway = vendor.gateway()
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    assert caught.value.permanent and not caught.value.config_error and caught.value.status == 413
    gateway.close()


def test_429_is_transient_with_retry_after(vendor):
    vendor.fake.fail_next(429, {"error": "too many requests"}, {"Retry-After": "7"})
    gateway = vendor.gateway()
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    assert not caught.value.permanent and caught.value.retry_after == 7.0
    gateway.close()


def test_503_is_transient(vendor):
    vendor.fake.fail_next(503, "busy")
    gateway = vendor.gateway()
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    assert not caught.value.permanent and caught.value.status == 503
    gateway.close()


def test_wrong_secret_is_a_config_error(vendor):
    gateway = vendor.gateway(
        secrets=json.dumps({"app_secret": "wrong", "master_secret": "wrong", "client_secret": "x"})
    )
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    assert caught.value.config_error and caught.value.permanent
    gateway.close()


TOKEN_VENDORS = ["huawei", "oppo", "vivo", "honor"]  # Xiaomi and Meizu sign every call: no token


@pytest.mark.parametrize("vendor", TOKEN_VENDORS, indirect=True)
def test_access_token_is_cached_between_batches(vendor):
    gateway = vendor.gateway()
    gateway.send_batch([push("tok-a")])
    gateway.send_batch([push("tok-b")])
    auth_calls = [r for r in vendor.fake.requests if r.path.endswith(("/auth", "/token", "/auth/token"))]
    assert len(auth_calls) == 1
    gateway.close()


@pytest.mark.parametrize("vendor", TOKEN_VENDORS, indirect=True)
def test_expired_access_token_is_refreshed_once(vendor):
    gateway = vendor.gateway()
    gateway.send_batch([push("tok-a")])
    tokens = vendor.fake.tokens
    tokens.clear() if isinstance(tokens, set) else tokens.expire_all()
    (result,) = gateway.send_batch([push("tok-b")])
    assert result.accepted
    auth_calls = [r for r in vendor.fake.requests if r.path.endswith(("/auth", "/token", "/auth/token"))]
    assert len(auth_calls) == 2
    gateway.close()


def test_large_batches_are_split_at_1000_tokens(vendor):
    gateway = vendor.gateway()
    results = gateway.send_batch([push(f"tok-{i}") for i in range(1500)])
    assert len(results) == 1500 and all(r.accepted for r in results)
    assert len(_sends(vendor)) == 2 * vendor.batch_calls
    gateway.close()
