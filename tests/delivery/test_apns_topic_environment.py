"""APNs topic and environment: the topic comes from the active credential (a certificate's override,
the .p8 key's topic); each device records its APNs environment and a universal certificate sends
each device to its own environment. Ends at the fake APNs (HTTP/2)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Device, Message, MessageState, TargetType
from console.models import ApnsCertificate, ApnsTokenKey
from tests.apiclient import SignedClient
from tests.fakes.apns import Answer, FakeApns
from tests.fakes.pki import make_p8_key

from .conftest import make_device, make_task, run_task

pytestmark = pytest.mark.django_db


def _certificate(app, pki, *, topic: str, environment: str = "production") -> ApnsCertificate:
    ApnsCertificate.objects.filter(app=app).update(is_active=False)
    client = pki.client_cert(topic)
    now = timezone.now()
    return ApnsCertificate.objects.create(
        app=app,
        p12=client.p12,
        password=client.password,
        environment=environment,
        topic=topic,
        subject=f"Apple Push Services: {topic}",
        issuer="Pushdeck Test CA",
        serial=str(client.cert.serial_number),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=365),
        fingerprint=uuid.uuid4().hex,
        is_active=True,
    )


def test_the_topic_is_the_active_certificates_override_not_the_bundle_id(app, gateways, pki):
    _certificate(app, pki, topic="com.example.override")
    device = make_device(app, "topic-1", platform="ios")
    task = make_task(app, ["topic-1"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    (request,) = [r for r in gateways.apns.requests if r.token == device.apns_token]
    assert request.headers["apns-topic"] == "com.example.override" != app.ios_bundle_id
    assert Message.objects.get(task=task).state == MessageState.ACCEPTED


def test_the_topic_of_a_p8_key_is_sent(app, gateways, pki, settings):
    private_pem, public_pem = make_p8_key()
    fake = FakeApns(pki, token_keys={"TOPICKEY01": ("TEAM000001", public_pem)}).start()
    try:
        settings.APNS_PRODUCTION_URL = settings.APNS_SANDBOX_URL = fake.url
        app.apns_auth = "token"
        app.save(update_fields=["apns_auth"])
        ApnsTokenKey.objects.create(
            app=app,
            key_pem=private_pem,
            key_id="TOPICKEY01",
            team_id="TEAM000001",
            topic="com.example.keytopic",
            fingerprint="t",
        )
        make_device(app, "topic-2", platform="ios")
        task = make_task(app, ["topic-2"], target_type=TargetType.IOS_DEVICE)
        run_task(task)
        assert [r.headers["apns-topic"] for r in fake.requests] == ["com.example.keytopic"]
        assert Message.objects.get(task=task).state == MessageState.ACCEPTED
    finally:
        fake.stop()


def test_device_token_not_for_topic_keeps_the_device_alive(app, gateways):
    device = make_device(app, "topic-3", platform="ios")
    gateways.apns.script[device.apns_token] = Answer(400, "DeviceTokenNotForTopic")
    task = make_task(app, ["topic-3"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    device.refresh_from_db()
    message = Message.objects.get(task=task)
    assert message.state == MessageState.FAILED and message.status == 2010
    assert device.token_dead_at is None


def test_a_universal_certificate_sends_each_device_to_its_environment(app, gateways, pki, settings):
    sandbox = FakeApns(pki, require_client_cert=True).start()
    try:
        settings.APNS_SANDBOX_URL = sandbox.url  # production stays gateways.apns
        _certificate(app, pki, topic=app.ios_bundle_id, environment="both")
        dev = make_device(app, "env-dev", platform="ios", apns_environment="development")
        prod = make_device(app, "env-prod", platform="ios", apns_environment="production")
        unknown = make_device(app, "env-unknown", platform="ios")
        gateways.apns.script[unknown.apns_token] = Answer(400, "BadDeviceToken")
        task = make_task(app, ["env-dev", "env-prod", "env-unknown"], target_type=TargetType.IOS_DEVICE)
        run_task(task)
        assert [r.token for r in sandbox.requests] == [dev.apns_token]
        assert sorted(r.token for r in gateways.apns.requests) == sorted([prod.apns_token, unknown.apns_token])
        # A production host's BadDeviceToken for a device that never said its build: failed, not dead.
        unknown.refresh_from_db()
        assert unknown.token_dead_at is None
        states = dict(Message.objects.filter(task=task).values_list("target_id", "state"))
        assert states == {"env-dev": "accepted", "env-prod": "accepted", "env-unknown": "failed"}
    finally:
        sandbox.stop()


def test_the_client_api_records_and_reports_the_apns_environment(app, client):
    api = SignedClient(client, app, kind="client")
    token = "ab" * 32
    body = {"deviceId": "env-app", "platform": "ios", "apnsToken": token, "apnsEnvironment": "development"}
    reply = api.post("/api/v1/client/device/report", body).json()
    assert reply["resultCode"] == 100 and reply["apnsEnvironment"] == "development"
    assert Device.objects.get(device_id="env-app").apns_environment == "development"
    bad = api.post("/api/v1/client/device/report", {**body, "deviceId": "env-bad", "apnsEnvironment": "staging"})
    assert bad.json()["resultCode"] == 3028 and "apnsEnvironment is production or development" in bad.content.decode()
    assert not Device.objects.filter(device_id="env-bad").exists()
