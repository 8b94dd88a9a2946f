"""gateway_for: the right class from the app's active credentials, cached per process."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone

from campaigns.gateways import GatewayError
from campaigns.gateways.apns import ApnsGateway
from campaigns.gateways.base import OutgoingPush
from campaigns.gateways.factory import close_all, gateway_for
from campaigns.gateways.fcm import FcmGateway
from campaigns.gateways.huawei import HuaweiGateway
from campaigns.gateways.sandbox import SandboxGateway
from console.models import ApnsCertificate, ApnsTokenKey, ChannelPackage, FcmCredential, VendorChannel

TOPIC = "com.example.app"


@pytest.fixture(autouse=True)
def _fresh_cache():
    close_all()
    yield
    close_all()


def _certificate(app, client, *, active=True, days=365, environment="production"):
    now = timezone.now()
    return ApnsCertificate.objects.create(
        app=app,
        p12=client.p12,
        password=client.password,
        environment=environment,
        topic=TOPIC,
        subject=f"Apple Push Services: {TOPIC}",
        issuer="Test CA",
        serial="01",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=days),
        fingerprint=uuid.uuid4().hex,
        is_active=active,
    )


def push() -> OutgoingPush:
    return OutgoingPush(
        delivery_id=1,
        push_id=str(uuid.uuid4()),
        token="c" * 64,
        platform="ios",
        title="T",
        body="B",
        expires_at=timezone.now() + dt.timedelta(hours=1),
        topic=TOPIC,
    )


def test_sandbox_app_gets_the_sandbox_gateway(app):
    app.sandbox = True
    app.save()
    assert isinstance(gateway_for(app, "apns"), SandboxGateway)
    assert gateway_for(app, "huawei") is gateway_for(app, "apns")


def test_certificate_gateway_sends_with_the_stored_certificate_and_is_reused(app, pki, fake_apns):
    _certificate(app, pki.client_cert(TOPIC))
    gateway = gateway_for(app, "apns")
    assert isinstance(gateway, ApnsGateway) and gateway.token is None
    assert gateway.send(push()).accepted
    assert gateway_for(app, "apns") is gateway
    gateway.send(push())
    assert fake_apns.connections == 1  # one connection for both sends


def test_new_certificate_replaces_the_cached_gateway(app, pki, fake_apns):
    old = _certificate(app, pki.client_cert(TOPIC))
    first = gateway_for(app, "apns")
    old.is_active = False
    old.save()
    _certificate(app, pki.client_cert(TOPIC))
    second = gateway_for(app, "apns")
    assert second is not first and second.send(push()).accepted


def test_token_auth_uses_the_p8_key(app, p8, fake_apns):
    app.apns_auth = "token"
    app.save()
    ApnsTokenKey.objects.create(
        app=app, key_pem=p8["key_pem"], key_id=p8["key_id"], team_id=p8["team_id"], topic=TOPIC, fingerprint="f"
    )
    gateway = gateway_for(app, "apns")
    assert gateway.token is not None
    assert gateway.send(push()).accepted
    assert fake_apns.requests[-1].auth == "token"


def test_expired_certificate_is_a_clear_config_error(app, pki):
    _certificate(app, pki.client_cert(TOPIC), days=-1)
    with pytest.raises(GatewayError) as caught:
        gateway_for(app, "apns")
    assert caught.value.config_error and caught.value.permanent and caught.value.code == 2014
    assert "expired" in caught.value.reason


def test_missing_credentials_are_config_errors(app):
    for channel in ("apns", "fcm", "huawei", "nonsense"):
        with pytest.raises(GatewayError) as caught:
            gateway_for(app, channel)
        assert caught.value.config_error


def test_switched_off_fcm_is_refused(app):
    FcmCredential.objects.create(app=app, enabled=False, service_account=json.dumps({"project_id": "p"}))
    with pytest.raises(GatewayError) as caught:
        gateway_for(app, "fcm")
    assert "switched off" in caught.value.reason


def test_fcm_gateway_from_the_service_account(app):
    from tests.fakes.pki import make_rsa_key

    key, _ = make_rsa_key()
    account = {"project_id": "p", "client_email": "a@p.iam", "private_key": key, "token_uri": "https://t"}
    FcmCredential.objects.create(app=app, enabled=True, service_account=json.dumps(account))
    assert isinstance(gateway_for(app, "fcm"), FcmGateway)


def test_vendor_channel_of_the_device_package(app):
    main = ChannelPackage.objects.create(app=app, package_name="com.example.main", is_main=True)
    extra = ChannelPackage.objects.create(app=app, package_name="com.example.extra")
    VendorChannel.objects.create(
        app=app, package=main, vendor="huawei", enabled=True, vendor_app_id="1", secrets=json.dumps({"app_secret": "a"})
    )
    VendorChannel.objects.create(
        app=app,
        package=extra,
        vendor="huawei",
        enabled=False,
        vendor_app_id="2",
        secrets=json.dumps({"app_secret": "b"}),
    )
    gateway = gateway_for(app, "huawei")
    assert isinstance(gateway, HuaweiGateway) and gateway.app_id == "1" and gateway.package_name == "com.example.main"
    assert gateway_for(app, "huawei", package_name="com.example.main") is gateway
    with pytest.raises(GatewayError) as caught:
        gateway_for(app, "huawei", package_name="com.example.extra")
    assert caught.value.config_error and "switched off" in caught.value.reason
    with pytest.raises(GatewayError):
        gateway_for(app, "xiaomi", package_name="com.example.main")
