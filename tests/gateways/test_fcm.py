"""FcmGateway against the fake FCM v1 server and its OAuth token endpoint."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import jwt
import pytest

from campaigns.gateways import GATEWAYS, GatewayError
from campaigns.gateways.base import OutgoingPush
from campaigns.gateways.fcm import SCOPE, FcmGateway
from console.models import FcmCredential
from tests.fakes.pki import make_rsa_key
from tests.fakes.vendors import FakeFcm, fcm_error

EMAIL = "pusher@demo-project.iam.gserviceaccount.com"


def push(token="fcm-token-1", **kw) -> OutgoingPush:
    fields = {
        "delivery_id": 1,
        "push_id": str(uuid.uuid4()),
        "token": token,
        "platform": "android",
        "title": "Hi",
        "body": "There",
        "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        "extras": {"k": "v"},
    }
    fields.update(kw)
    return OutgoingPush(**fields)


@pytest.fixture(scope="module")
def rsa_key():
    return make_rsa_key()


@pytest.fixture
def fake_fcm(settings, rsa_key):
    fake = FakeFcm(project_id="demo-project", client_email=EMAIL, public_pem=rsa_key[1]).start()
    settings.FCM_URL, settings.FCM_TOKEN_URL = fake.url, fake.token_url
    yield fake
    fake.stop()


def account(fake, private_pem, **over) -> str:
    data = {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "key-1",
        "private_key": private_pem,
        "client_email": EMAIL,
        "token_uri": fake.token_url,
    }
    data.update(over)
    return json.dumps(data)


@pytest.fixture
def gateway(fake_fcm, rsa_key):
    gw = FcmGateway(FcmCredential(enabled=True, service_account=account(fake_fcm, rsa_key[0])))
    yield gw
    gw.close()


def test_registered():
    assert GATEWAYS["fcm"] is FcmGateway


def test_success_with_oauth_jwt_bearer_token(gateway, fake_fcm):
    p = push()
    (result,) = gateway.send_batch([p])
    assert result.accepted and result.gateway_message_id.startswith("projects/demo-project/messages/")
    token_request, send = fake_fcm.requests
    assertion = token_request.form["assertion"]
    assert jwt.get_unverified_header(assertion)["kid"] == "key-1"
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert claims["iss"] == EMAIL and claims["scope"] == SCOPE and claims["aud"] == fake_fcm.token_url
    assert claims["exp"] - claims["iat"] == 3600
    assert send.path == "/v1/projects/demo-project/messages:send"
    assert send.headers["authorization"] == f"Bearer {next(iter(fake_fcm.tokens.valid))}"
    message = send.json["message"]
    assert message["token"] == "fcm-token-1" and message["notification"] == {"title": "Hi", "body": "There"}
    assert message["data"]["k"] == "v" and message["data"]["pushId"] == p.push_id


def test_token_is_cached_and_many_pushes_go_in_parallel(gateway, fake_fcm):
    results = gateway.send_batch([push(f"t{i}") for i in range(120)])
    assert [r for r in results if not r.accepted] == []
    assert len(fake_fcm.requests_to("/token")) == 1
    assert len(fake_fcm.requests_to("messages:send")) == 120


def test_unregistered_marks_token_dead(gateway, fake_fcm):
    fake_fcm.invalid_tokens.add("gone")
    results = gateway.send_batch([push("ok"), push("gone")])
    assert results[0].accepted
    assert results[1].token_dead and results[1].code == 90000003 and results[1].reason == "UNREGISTERED"


def test_invalid_argument_on_the_token_marks_it_dead(gateway):
    (result,) = gateway.send_batch([push("malformed-token")])
    assert result.token_dead and result.code == 90000002


def test_invalid_argument_elsewhere_is_a_bad_request_keeping_the_token(gateway, fake_fcm):
    fake_fcm.fail_next(
        400, fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'")
    )
    (result,) = gateway.send_batch([push()])
    assert not result.accepted and not result.token_dead and result.permanent and result.code == 90000009


def test_413_message_too_big(gateway, fake_fcm):
    fake_fcm.fail_next(413, "Request Entity Too Large")
    (result,) = gateway.send_batch([push()])
    assert not result.accepted and result.permanent and result.code == 90000007 and not result.token_dead


def test_quota_exceeded_honours_retry_after(gateway, fake_fcm):
    fake_fcm.fail_next(429, fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "quota"), {"Retry-After": "7"})
    (result,) = gateway.send_batch([push()])
    assert not result.permanent and result.retry_after == 7.0 and result.reason == "QUOTA_EXCEEDED"


def test_unavailable_is_transient(gateway, fake_fcm):
    fake_fcm.fail_next(503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE", "try later"), {"Retry-After": "3"})
    (result,) = gateway.send_batch([push()])
    assert not result.permanent and result.http_status == 503 and result.retry_after == 3.0


def test_internal_is_transient(gateway, fake_fcm):
    fake_fcm.fail_next(500, fcm_error(500, "INTERNAL", "INTERNAL", "oops"))
    (result,) = gateway.send_batch([push()])
    assert not result.permanent and result.code == 90000011


def test_plain_401_refreshes_the_token_once(gateway, fake_fcm):
    gateway.send_batch([push()])
    fake_fcm.tokens.expire_all()
    (result,) = gateway.send_batch([push()])
    assert result.accepted
    assert len(fake_fcm.requests_to("/token")) == 2


def test_third_party_auth_error_is_config(gateway, fake_fcm):
    fake_fcm.fail_next(401, fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", "APNs cert bad"))
    (result,) = gateway.send_batch([push()])
    assert result.config_error and result.code == 90000401
    assert len(fake_fcm.requests_to("/token")) == 1  # not a token problem: no refresh


def test_service_account_with_a_foreign_key_is_a_config_error(fake_fcm):
    other_private, _ = make_rsa_key()
    gw = FcmGateway(FcmCredential(enabled=True, service_account=account(fake_fcm, other_private)))
    with pytest.raises(GatewayError) as caught:
        gw.send_batch([push()])
    gw.close()
    assert caught.value.config_error and caught.value.permanent and "invalid_grant" in caught.value.reason


def test_unusable_service_account_json_is_refused():
    with pytest.raises(GatewayError) as caught:
        FcmGateway(FcmCredential(enabled=True, service_account="{not json"))
    assert caught.value.config_error
