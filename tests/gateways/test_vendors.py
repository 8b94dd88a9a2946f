"""Vendor gateways (Huawei, Xiaomi, OPPO, vivo, Honor, Meizu) against their local fakes."""

from __future__ import annotations

import dataclasses
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
    assert result.gateway_message_id, "the vendor's message id is kept"
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
        assert request.json["appId"] == "1001" and request.json["requestId"]
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


def test_large_batches_are_split_at_the_vendors_limit(vendor):
    gateway = vendor.gateway()
    results = gateway.send_batch([push(f"tok-{i}") for i in range(1500)])
    assert len(results) == 1500 and all(r.accepted for r in results)
    # 1000 tokens per call; Meizu takes at most 100 push ids
    calls = 15 if vendor.name == "meizu" else 2 * vendor.batch_calls
    assert len(_sends(vendor)) == calls
    gateway.close()


def test_a_partly_invalid_batch_marks_only_the_refused_tokens_dead_with_the_message_id(vendor):
    """The refused tokens come inside the vendor's success answer (Huawei 80100000 `msg`, Xiaomi
    `data.bad_regids`, OPPO `data` by code, vivo `invalidUsers`, Honor `failTokens`, Meizu `value`)."""
    vendor.fake.invalid_tokens.add("tok-dead")
    gateway = vendor.gateway()
    results = gateway.send_batch([push("tok-a"), push("tok-dead")])
    assert results[0].accepted and results[0].gateway_message_id
    assert not results[1].accepted and results[1].token_dead and results[1].code is not None
    gateway.close()


def _vendor_answer(name: str, code) -> dict:
    """A vendor's error body carrying `code`, in its own format."""
    return {
        "huawei": {"code": str(code), "msg": "system error", "requestId": "r1"},
        "xiaomi": {"result": "error", "code": code, "reason": "busy", "description": "busy"},
        "oppo": {"code": code, "message": "busy"},
        "vivo": {"result": code, "desc": "busy"},
        "honor": {"code": code, "message": "busy"},
        "meizu": {"code": str(code), "message": "busy", "value": None},
    }[name]


VENDOR_5XX_CODES = {"huawei": 81000001, "xiaomi": 10001, "oppo": -1, "vivo": 10001, "honor": 81000001, "meizu": 1001}


def test_5xx_keeps_the_vendors_code(vendor):
    code = VENDOR_5XX_CODES[vendor.name]
    vendor.fake.fail_next(500, _vendor_answer(vendor.name, code))
    gateway = vendor.gateway()
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    assert not caught.value.permanent and caught.value.status == 500 and caught.value.code == code
    gateway.close()


@pytest.mark.parametrize(
    "vendor,code,next_day",
    [
        ("xiaomi", 200001, True),
        ("xiaomi", 200002, False),
        ("xiaomi", 10034, True),
        ("oppo", 33, True),
        ("oppo", 13, False),
        ("vivo", 10070, True),
        ("vivo", 10093, False),
        ("meizu", 110010, False),
        ("meizu", 1003, False),
        ("huawei", 80100017, False),
    ],
    indirect=["vendor"],
)
def test_quota_and_rate_answers_are_retried_later(vendor, code, next_day):
    vendor.fake.fail_next(200, _vendor_answer(vendor.name, code))
    gateway = vendor.gateway()
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    error = caught.value
    assert not error.permanent and not error.config_error and error.code == code
    if next_day:
        assert 60 <= error.retry_after <= 86400 + 600  # until the quota's day starts again (Beijing)
    gateway.close()


@pytest.mark.parametrize("vendor", ["huawei"], indirect=True)
def test_huawei_business_errors_come_with_http_400_and_are_read_from_the_body(vendor):
    vendor.fake.fail_next(400, {"code": "80100003", "msg": "Illegal payload", "requestId": "r1"})
    gateway = vendor.gateway()
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    assert caught.value.permanent and not caught.value.config_error and caught.value.code == 80100003
    # 80300007 with HTTP 400: every token of the call is dead
    vendor.fake.invalid_tokens.update({"tok-x", "tok-y"})
    results = gateway.send_batch([push("tok-x"), push("tok-y")])
    assert all(r.token_dead and r.code == 80300007 for r in results)
    gateway.close()


@pytest.mark.parametrize("vendor", ["huawei"], indirect=True)
def test_huawei_partial_answer_of_the_v3_api_groups_illegal_tokens_by_reason(vendor):
    msg = json.dumps({"success": 1, "failure": 2, "illegalTokens": {"expired": ["tok-b"], "invalid": ["tok-c"]}})
    vendor.fake.fail_next(200, {"code": "80100000", "msg": msg, "requestId": "r9"})
    results = vendor.gateway().send_batch([push("tok-a"), push("tok-b"), push("tok-c")])
    assert [r.token_dead for r in results] == [False, True, True]
    assert results[0].accepted and results[0].gateway_message_id == "r9"


@pytest.mark.parametrize("vendor", ["xiaomi"], indirect=True)
def test_xiaomi_reads_bad_regids_in_either_spelling(vendor):
    for key in ("bad_regids", "bad_regIds"):
        vendor.fake.fail_next(200, {"result": "ok", "code": 0, "data": {"id": "slm1", key: "tok-b"}})
        results = vendor.gateway().send_batch([push("tok-a"), push("tok-b")])
        assert results[0].accepted and results[0].gateway_message_id == "slm1"
        assert results[1].token_dead and results[1].code == 20301


@pytest.mark.parametrize("vendor", ["meizu"], indirect=True)
def test_meizu_per_id_codes_inside_a_200_answer(vendor):
    vendor.fake.unregistered.add("tok-gone")
    vendor.fake.invalid_tokens.add("tok-bad")
    vendor.fake.switched_off.add("tok-off")
    gateway = vendor.gateway()
    results = gateway.send_batch([push("tok-ok"), push("tok-gone"), push("tok-bad"), push("tok-off")])
    assert results[0].accepted
    assert (results[1].token_dead, results[1].code) == (True, 110002)
    assert (results[2].token_dead, results[2].code) == (True, 110003)
    # notifications switched off: this message fails, the push id stays usable
    assert (results[3].accepted, results[3].token_dead, results[3].code) == (False, False, 110010)
    gateway.close()


@pytest.mark.parametrize("vendor", ["meizu"], indirect=True)
def test_meizu_wrong_secret_is_the_signature_error_1006_a_config_error(vendor):
    gateway = vendor.gateway(secrets=json.dumps({"app_secret": "wrong"}))
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-a")])
    assert caught.value.config_error and caught.value.code == 1006


@pytest.mark.parametrize("vendor", ["vivo"], indirect=True)
def test_vivo_bodies_carry_the_app_id_and_stay_within_its_limits(vendor):
    gateway = vendor.gateway()
    long = push("tok-a", title="T" * 60, body="B" * 150, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    results = gateway.send_batch([long, dataclasses.replace(long, token="tok-b")])
    assert all(r.accepted for r in results)
    (saved,) = vendor.fake.requests_to("/saveListPayload")
    (pushed,) = vendor.fake.requests_to("/pushToList")
    assert saved.json["appId"] == "1001" and pushed.json["appId"] == "1001"
    assert saved.json["timeToLive"] == 86400
    assert len(saved.json["title"]) == 40 and len(saved.json["content"]) == 100
    short = push("tok-c", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20))
    (result,) = gateway.send_batch([short])
    assert result.accepted and vendor.fake.requests_to("/message/send")[-1].json["timeToLive"] == 60
    # another app's id in the body: vivo answers 10094
    vendor.fake.app_id = "2002"
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push("tok-d")])
    assert caught.value.code == 10094
    gateway.close()


@pytest.mark.parametrize("vendor", ["honor"], indirect=True)
def test_honor_expire_tokens_are_dead_and_the_request_id_kept(vendor):
    vendor.fake.expired_tokens.add("tok-old")
    results = vendor.gateway().send_batch([push("tok-a"), push("tok-old")])
    assert results[0].accepted and results[0].gateway_message_id
    assert results[1].token_dead and not results[1].accepted


def test_honor_default_hosts_are_the_hihonor_ones():
    from console import settings as project_settings

    assert project_settings.HONOR_URL == "https://push-api.cloud.hihonor.com"
    assert project_settings.HONOR_TOKEN_URL == "https://iam.developer.hihonor.com/auth/token"
