"""Issue 4 "Test push": one notification to a typed token through a credential, the gateway's exact answer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.delivery import testpush
from console.models import AuditEntry
from tests.fakes.apns import Answer

from .conftest import huawei_channel

pytestmark = pytest.mark.django_db

TOKEN = "ab12" * 16


def url(app):
    return reverse("campaigns:test-push", kwargs={"app_key": app.app_key})


def test_accepted_test_push_shows_the_answer_and_is_audited_with_the_token_masked(
    app, gateways, channel_admin, client_for
):
    response = client_for(channel_admin).post(url(app), {"channel": "apns", "token": TOKEN}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Accepted by the gateway." in html and '<dd class="test-push-http">200</dd>' in html
    (request,) = gateways.apns.requests
    assert (request.token, request.auth, request.headers["apns-topic"]) == (TOKEN, "certificate", app.ios_bundle_id)
    assert request.payload["aps"]["alert"]["title"] == "Pushdeck test"
    entry = AuditEntry.objects.get(action="push.test")
    assert entry.actor == channel_admin and entry.app == app and entry.target == "apns"
    assert entry.summary["accepted"] is True and entry.summary["http_status"] == 200
    assert TOKEN not in str(entry.summary) and entry.summary["token"].endswith(TOKEN[-4:])
    assert entry.summary["push_id"] == request.headers["apns-id"]


def test_invalid_token_shows_the_gateway_code_and_reason(app, gateways, channel_admin, client_for):
    gateways.apns.script[TOKEN] = Answer(410, "Unregistered")
    html = client_for(channel_admin).post(url(app), {"channel": "apns", "token": TOKEN}).content.decode()
    assert "Refused by the gateway." in html
    assert '<dd class="test-push-http">410</dd>' in html
    assert '<dd class="test-push-code">2011</dd>' in html
    assert '<dd class="test-push-reason">Unregistered</dd>' in html
    assert "no longer valid" in html
    assert AuditEntry.objects.get(action="push.test").summary["reason"] == "Unregistered"


def test_vendor_invalid_token_is_reported_in_the_vendor_code(app, gateways):
    huawei_channel(app)
    gateways.huawei.invalid_tokens.add("hw-token-1")
    result = testpush.test_push_send(app=app, channel="huawei", token="hw-token-1", actor=None)
    assert not result.accepted and result.token_dead and result.http_status == 200
    assert gateways.huawei_tokens() == ["hw-token-1"]
    ok = testpush.test_push_send(app=app, channel="huawei", token="hw-token-2", actor=None)
    assert ok.accepted
    assert AuditEntry.objects.filter(action="push.test").count() == 2


def test_missing_credential_is_shown_as_a_configuration_error(app, gateways, channel_admin, client_for):
    html = client_for(channel_admin).post(url(app), {"channel": "fcm", "token": "fcm-token"}).content.decode()
    assert "Refused: the credential is not usable." in html
    assert "FCM not configured" in html
    assert AuditEntry.objects.get(action="push.test").summary["accepted"] is False


def test_expired_certificate_is_a_configuration_error_and_nothing_is_sent(app, gateways):
    from datetime import timedelta

    from django.utils import timezone

    gateways.certificate.not_after = timezone.now() - timedelta(days=1)
    gateways.certificate.save()
    result = testpush.test_push_send(app=app, channel="apns", token=TOKEN, actor=None)
    assert result.config_error and result.code == 2014 and "expired" in result.reason
    assert gateways.apns.requests == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"channel": "apns", "token": "not-hex"}, "token", "64 or more hexadecimal characters"),
        ({"channel": "apns", "token": ""}, "token", "This field is required"),
        ({"channel": "fcm", "token": "a b"}, "token", "no spaces"),
        ({"channel": "huawei", "token": "t", "package_name": "not a package"}, "package_name", "com.example.app"),
        ({"channel": "selfbuilt", "token": "t"}, "channel", "Select a valid choice"),
        ({"channel": "apns", "token": TOKEN, "package_name": "com.x.y"}, "package_name", "leave the package"),
    ],
)
def test_bad_input_gets_a_clear_message_and_sends_nothing(
    app, gateways, channel_admin, client_for, data, field, message
):
    html = client_for(channel_admin).post(url(app), data).content.decode()
    assert f'id="id_{field}_error"' in html and message in html
    assert gateways.apns.requests == [] and gateways.huawei.requests == []
    assert not AuditEntry.objects.filter(action="push.test").exists()


def test_only_configuring_roles_may_send_a_test_push(app, gateways, marketer, auditor, outsider, client_for):
    data = {"channel": "apns", "token": TOKEN}
    for user, status in ((marketer, 403), (auditor, 403), (outsider, 404)):
        assert client_for(user).post(url(app), data).status_code == status
    assert gateways.apns.requests == []
    assert not AuditEntry.objects.filter(action="push.test").exists()


def test_get_is_not_allowed(app, channel_admin, client_for):
    assert client_for(channel_admin).get(url(app)).status_code == 405


def test_push_configuration_page_offers_the_test_push_to_channel_admins_only(app, channel_admin, marketer, client_for):
    url = f"/apps/{app.app_key}/push-config/"
    admin_page = client_for(channel_admin).get(url).content.decode()
    assert 'id="test-push"' in admin_page and f"/apps/{app.app_key}/test-push/" in admin_page
    assert 'id="test-push"' not in client_for(marketer).get(url).content.decode()
