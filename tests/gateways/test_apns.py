"""ApnsGateway against the fake APNs (HTTP/2 + TLS, client certificate or ES256 JWT)."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

import jwt
import pytest

from campaigns.gateways import GATEWAYS, GatewayError
from campaigns.gateways.apns import ApnsGateway, ProviderToken
from campaigns.gateways.base import OutgoingPush
from console.models import ApnsCertificate, ApnsTokenKey
from tests.fakes.apns import Answer

TOPIC = "com.example.app"


def push(token="a" * 64, **kw) -> OutgoingPush:
    fields = {
        "delivery_id": 1,
        "push_id": str(uuid.uuid4()),
        "token": token,
        "platform": "ios",
        "title": "Hello",
        "body": "World",
        "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        "topic": TOPIC,
        "url": "https://example.com/x",
        "click_action": "open_url",
    }
    fields.update(kw)
    return OutgoingPush(**fields)


@pytest.fixture
def cert_gateway(pki, fake_apns):
    client = pki.client_cert(TOPIC)
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=TOPIC, environment="production")
    gateway = ApnsGateway(credential)
    yield gateway
    gateway.close()


@pytest.fixture
def token_gateway(p8, fake_apns):
    credential = ApnsTokenKey(
        key_pem=p8["key_pem"], key_id=p8["key_id"], team_id=p8["team_id"], topic=TOPIC, environment="production"
    )
    gateway = ApnsGateway(credential)
    yield gateway
    gateway.close()


def test_registered():
    assert GATEWAYS["apns"] is ApnsGateway


def test_certificate_auth_success_records_the_apple_request(cert_gateway, fake_apns):
    p = push()
    result = cert_gateway.send(p)
    assert result.accepted and result.http_status == 200
    assert result.gateway_message_id == p.push_id
    (request,) = fake_apns.requests
    assert request.path == f"/3/device/{'a' * 64}"
    assert request.auth == "certificate" and request.client_subject == f"Apple Push Services: {TOPIC}"
    assert request.headers["apns-id"] == p.push_id
    assert request.headers["apns-collapse-id"] == p.push_id
    assert request.headers["apns-topic"] == TOPIC
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    assert request.headers["apns-expiration"] == str(int(p.expires_at.timestamp()))
    assert request.payload["aps"]["alert"] == {"title": "Hello", "body": "World"}
    assert request.payload["url"] == "https://example.com/x"


def test_token_auth_sends_a_valid_cached_jwt(token_gateway, fake_apns, p8):
    results = token_gateway.send_batch([push(), push()])
    assert all(r.accepted for r in results)
    tokens = {r.headers["authorization"] for r in fake_apns.requests}
    assert len(tokens) == 1  # one JWT reused
    raw = tokens.pop().split(" ", 1)[1]
    header = jwt.get_unverified_header(raw)
    claims = jwt.decode(raw, p8["public_pem"], algorithms=["ES256"])
    assert header["kid"] == p8["key_id"] and header["alg"] == "ES256"
    assert claims["iss"] == p8["team_id"] and abs(claims["iat"] - dt.datetime.now().timestamp()) < 60
    assert {r.auth for r in fake_apns.requests} == {"token"}


def test_token_connection_starts_with_one_stream_then_gets_the_full_limit(token_gateway, fake_apns):
    results = token_gateway.send_batch([push(delivery_id=i) for i in range(300)])
    assert all(r.accepted for r in results) and fake_apns.count == 300
    assert fake_apns.stream_limit_raised == len(token_gateway.connections)


def test_provider_token_rotates_after_50_minutes(p8):
    now = [1_000_000.0]
    token = ProviderToken(p8["key_pem"], p8["key_id"], p8["team_id"], clock=lambda: now[0])
    first = token.get()
    now[0] += 49 * 60
    assert token.get() == first
    now[0] += 2 * 60
    second = token.get()
    assert second != first
    assert jwt.decode(second, p8["public_pem"], algorithms=["ES256"])["iat"] == int(now[0])


def test_many_concurrent_streams_on_one_connection(cert_gateway, fake_apns):
    results = cert_gateway.send_batch([push(delivery_id=i) for i in range(600)])
    assert len(results) == 600 and all(r.accepted for r in results)
    assert fake_apns.connections == len(cert_gateway.connections) == 2  # APNS_CONNECTIONS
    cert_gateway.send_batch([push() for _ in range(10)])
    assert fake_apns.connections == 2  # reused between batches


def test_results_stay_in_order_with_mixed_answers(cert_gateway, fake_apns):
    fake_apns.script["d" * 64] = Answer(410, "Unregistered")
    results = cert_gateway.send_batch([push("a" * 64), push("d" * 64), push("b" * 64)])
    assert [r.accepted for r in results] == [True, False, True]
    assert results[1].token_dead


def test_unregistered_marks_token_dead(cert_gateway, fake_apns):
    fake_apns.script["d" * 64] = Answer(410, "Unregistered")
    result = cert_gateway.send(push("d" * 64))
    assert not result.accepted and result.token_dead and result.permanent
    assert result.code == 2011 and result.reason == "Unregistered" and result.http_status == 410


def test_bad_device_token_is_dead_for_this_environment(cert_gateway, fake_apns):
    fake_apns.next_answers.append(Answer(400, "BadDeviceToken"))
    result = cert_gateway.send(push())
    assert result.token_dead and result.permanent and result.code == 2009


def test_device_token_not_for_topic_is_a_topic_mistake_not_a_dead_device(cert_gateway, fake_apns):
    fake_apns.next_answers.append(Answer(400, "DeviceTokenNotForTopic"))
    result = cert_gateway.send(push())
    assert not result.token_dead and result.permanent and result.code == 2010


@pytest.mark.parametrize(
    "status,reason",
    [
        (400, "BadDeviceToken"),
        (400, "DeviceTokenNotForTopic"),
        (403, "Forbidden"),
        (410, "ExpiredToken"),
        (410, "Unregistered"),
        (413, "PayloadTooLarge"),
    ],
)
def test_reasons_apple_says_never_to_retry_are_permanent(cert_gateway, fake_apns, status, reason):
    fake_apns.next_answers.append(Answer(status, reason, retry_after=5))
    result = cert_gateway.send(push())
    assert not result.accepted and result.permanent and result.reason == reason


@pytest.mark.parametrize("reason", ["BadCertificate", "BadCertificateEnvironment", "ExpiredProviderToken"])
def test_403_credential_reasons_are_config_errors(cert_gateway, fake_apns, reason):
    fake_apns.next_answers.append(Answer(403, reason))
    result = cert_gateway.send(push())
    assert result.config_error and result.permanent and not result.token_dead


def test_payload_too_large_is_never_retried(cert_gateway, fake_apns):
    result = cert_gateway.send(push(body="x" * 5000))
    assert fake_apns.requests[0].headers["content-length"] == str(len(fake_apns.requests[0].body))
    assert not result.accepted and result.http_status == 413 and result.code == 2002
    assert result.permanent and not result.token_dead


def test_429_is_transient_and_honours_retry_after(cert_gateway, fake_apns):
    fake_apns.next_answers.append(Answer(429, "TooManyRequests", retry_after=7))
    result = cert_gateway.send(push())
    assert not result.accepted and not result.permanent and result.retry_after == 7.0
    assert not result.token_dead


def test_503_is_transient(cert_gateway, fake_apns):
    fake_apns.next_answers.append(Answer(503, "ServiceUnavailable"))
    result = cert_gateway.send(push())
    assert not result.accepted and not result.permanent and result.http_status == 503


def test_invalid_jwt_is_a_config_error(p8, fake_apns):
    from tests.fakes.pki import make_p8_key

    other_key, _ = make_p8_key()
    credential = ApnsTokenKey(key_pem=other_key, key_id=p8["key_id"], team_id=p8["team_id"], topic=TOPIC)
    gateway = ApnsGateway(credential)
    result = gateway.send(push())
    gateway.close()
    assert not result.accepted and result.config_error and result.permanent
    assert result.reason == "InvalidProviderToken" and result.http_status == 403


def test_certificate_from_another_ca_is_refused_as_config_error(pki, fake_apns):
    client = pki.client_cert(TOPIC, signed_by_ca=False)
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=TOPIC, environment="production")
    gateway = ApnsGateway(credential)
    with pytest.raises(GatewayError) as caught:
        gateway.send(push())
    gateway.close()
    assert caught.value.config_error and caught.value.permanent
    assert not fake_apns.requests


def test_certificate_for_another_topic_is_refused(pki, fake_apns):
    client = pki.client_cert("com.other.app")
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=TOPIC, environment="production")
    gateway = ApnsGateway(credential)
    result = gateway.send(push())
    gateway.close()
    assert result.config_error and result.code == 2004 and result.reason == "TopicDisallowed"


def test_wrong_p12_password_is_a_config_error(pki, fake_apns):
    client = pki.client_cert(TOPIC)
    credential = ApnsCertificate(p12=client.p12, password="wrong", topic=TOPIC, environment="production")
    with pytest.raises(GatewayError) as caught:
        ApnsGateway(credential)
    assert caught.value.config_error


def test_sandbox_certificate_goes_to_the_sandbox_host(pki, fake_apns, settings):
    settings.APNS_PRODUCTION_URL = "https://127.0.0.1:1"  # nothing listens: production must not be used
    client = pki.client_cert(TOPIC, environment="development")
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=TOPIC, environment="development")
    gateway = ApnsGateway(credential)
    assert gateway.environment == "development"
    assert gateway.send(push()).accepted
    gateway.close()


def test_unreachable_server_raises_transient_error(pki, settings):
    settings.APNS_PRODUCTION_URL = "https://127.0.0.1:1"
    client = pki.client_cert(TOPIC)
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=TOPIC, environment="production")
    gateway = ApnsGateway(credential)
    with pytest.raises(GatewayError) as caught:
        gateway.send_batch([push(), push()])
    gateway.close()
    assert not caught.value.permanent and caught.value.code == 2025


def test_goaway_reconnects_on_the_next_send(cert_gateway, fake_apns):
    assert cert_gateway.send(push()).accepted
    fake_apns.goaway()
    time.sleep(0.2)
    assert cert_gateway.send(push()).accepted
    assert fake_apns.connections == 2


def test_a_forked_worker_opens_its_own_connection(cert_gateway, fake_apns):
    assert cert_gateway.send(push()).accepted
    pid = os.fork()
    if pid == 0:  # the child: like a Celery prefork worker using a gateway made before the fork
        ok = False
        try:
            ok = cert_gateway.send(push()).accepted
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert fake_apns.connections == 2
    assert cert_gateway.send(push()).accepted  # the parent's connection still works


def test_the_server_stream_limit_is_respected(pki, settings):
    from tests.fakes.apns import FakeApns

    fake = FakeApns(pki, max_streams=5).start()
    settings.APNS_PRODUCTION_URL = fake.url
    client = pki.client_cert(TOPIC)
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=TOPIC, environment="production")
    gateway = ApnsGateway(credential, connections=1)
    results = gateway.send_batch([push() for _ in range(50)])
    gateway.close()
    fake.stop()
    assert all(r.accepted for r in results) and fake.count == 50 and fake.connections == 1
