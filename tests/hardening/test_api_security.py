"""Server API guards: source allowlist, per-app rate limit, body size limit; every refusal audited."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.models import AuditEntry, KeyConfig
from console.security.models import ApiRateLimit
from tests.apiclient import SignedClient, enable_server_api, nonces_recorded

PING = "/api/v1/ping"


@pytest.fixture
def signed(app, client):
    return SignedClient(client, app, private_pem=enable_server_api(app))


def _refusals(app=None):
    return AuditEntry.objects.filter(action="api.refused", app=app).order_by("pk")


@pytest.mark.django_db
def test_ping_answers_the_app_key_to_a_signed_call(signed, app):
    response = signed.post(PING, {})
    assert response.status_code == 200
    body = response.json()
    assert body["resultCode"] == 100 and body["appKey"] == app.app_key
    assert not _refusals(app).exists()
    assert nonces_recorded(app) == 1  # the accepted call's nonce is kept against a replay


@pytest.mark.django_db
def test_a_source_outside_the_allowlist_is_refused_and_audited(signed, app):
    KeyConfig.objects.filter(app=app).update(ip_allowlist="10.0.0.0/8\n192.168.1.7, 2001:db8::/32")
    response = signed.post(PING, {})
    assert response.status_code == 403
    body = response.json()
    assert body["resultCode"] == 3028 and body["resultMsg"] == "INVALID_PARAM"
    assert body["detail"] == "source address 127.0.0.1 is not allowed for this app"
    assert nonces_recorded(app) == 0  # refused before anything was recorded
    entry = _refusals(app).get()
    assert entry.summary["resultCode"] == 3028 and entry.ip == "127.0.0.1"
    assert entry.summary["reason"].startswith("source address")

    KeyConfig.objects.filter(app=app).update(ip_allowlist="10.0.0.0/8, 127.0.0.0/30")
    assert signed.post(PING, {}).status_code == 200


@pytest.mark.django_db
def test_the_allowlist_matches_ipv6_sources(signed, app):
    KeyConfig.objects.filter(app=app).update(ip_allowlist="2001:db8::/32")
    body = json.dumps({}).encode()
    headers = signed.headers("POST", PING, body)
    ok = signed.client.post(PING, data=body, content_type="application/json", REMOTE_ADDR="2001:db8::5", **headers)
    assert ok.status_code == 200
    headers = signed.headers("POST", PING, body)
    refused = signed.client.post(PING, data=body, content_type="application/json", REMOTE_ADDR="2001:db9::5", **headers)
    assert refused.status_code == 403


@pytest.mark.django_db
def test_a_broken_saved_allowlist_refuses_everything(signed, app):
    KeyConfig.objects.filter(app=app).update(ip_allowlist="not-a-network")
    assert signed.post(PING, {}).status_code == 403


@pytest.mark.django_db
def test_calls_over_the_apps_rate_limit_get_429(signed, app, other_app, client):
    ApiRateLimit.objects.create(app=app, per_minute=3)
    for _ in range(3):
        assert signed.post(PING, {}).status_code == 200
    limited = signed.post(PING, {})
    assert limited.status_code == 429
    assert limited.json()["resultCode"] == 3028
    assert limited.json()["detail"] == "rate limit of 3 requests per minute exceeded"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert _refusals(app).get().summary["status"] == 429
    # Another app has its own budget.
    other = SignedClient(client, other_app, private_pem=enable_server_api(other_app))
    assert other.post(PING, {}).status_code == 200


@pytest.mark.django_db
def test_forged_calls_do_not_use_up_the_budget(signed, app):
    ApiRateLimit.objects.create(app=app, per_minute=2)
    for _ in range(5):
        assert signed.post(PING, {}, signature="forged").status_code == 401
    assert signed.post(PING, {}).status_code == 200


@pytest.mark.django_db
def test_an_oversized_body_gets_a_clear_json_error_and_changes_nothing(signed, app, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = signed.post(PING, raw=b'{"pad": "' + b"x" * 2000 + b'"}')
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["resultCode"] == 3028 and body["detail"] == "the request body is larger than 1000 bytes"
    assert nonces_recorded(app) == 0
    assert _refusals().get().summary["status"] == 413  # refused before the app was even looked at


@pytest.mark.django_db
def test_refusals_are_audited_without_secrets(signed, app):
    signed.post(PING, {}, signature="not-the-signature")
    Client().get(PING)
    Client().post(PING, b"{}", content_type="application/json", HTTP_X_PUSHDECK_APP_KEY="unknown-app")
    codes = [e.summary["resultCode"] for e in AuditEntry.objects.filter(action="api.refused").order_by("pk")]
    assert codes == [-1, 3028, 3007]
    for entry in AuditEntry.objects.filter(action="api.refused"):
        text = json.dumps(entry.summary) + entry.target + entry.actor_label
        assert "not-the-signature" not in text and app.app_secret not in text


@pytest.mark.django_db
def test_behind_a_proxy_the_allowlist_sees_the_client_not_the_proxy(signed, app, settings):
    settings.PUSHDECK_BEHIND_PROXY = True
    settings.PUSHDECK_PROXY_COUNT = 1
    KeyConfig.objects.filter(app=app).update(ip_allowlist="203.0.113.0/24")
    body = b"{}"

    def call(forwarded_for):
        headers = signed.headers("POST", PING, body)
        return signed.client.post(
            PING, data=body, content_type="application/json", REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=forwarded_for, **headers,
        )  # fmt: skip

    assert call("203.0.113.9").status_code == 200
    # A client cannot pretend: only the entry our proxy appended counts.
    assert call("203.0.113.9, 198.51.100.4").status_code == 403
    assert _refusals(app).last().ip == "198.51.100.4"
    settings.PUSHDECK_BEHIND_PROXY = False
    assert call("203.0.113.9").status_code == 403  # without a proxy, the header is ignored


def test_the_allowlist_validator_names_the_bad_entry():
    from django.core.exceptions import ValidationError

    from console.security.api import validate_allowlist

    validate_allowlist("10.0.0.0/8,\n192.168.1.7\n 2001:db8::/32 ")
    validate_allowlist("")
    with pytest.raises(ValidationError) as error:
        validate_allowlist("10.0.0.0/8\n10.0.0.300")
    assert "10.0.0.300" in error.value.messages[0]


@pytest.mark.django_db
def test_channel_admin_sets_the_allowlist_and_rate_limit_in_the_console(
    signed, app, channel_admin, marketer, client_for
):
    url = f"/apps/{app.app_key}/keys/api/"
    admin = client_for(channel_admin)
    r = admin.post(url, {"api_enabled": "on", "ip_allowlist": "10.0.0.0/8\nnot-a-net", "rate_limit": "5"})
    assert r.status_code == 400 and "“not-a-net” is not an IP address or network" in r.content.decode()
    r = admin.post(url, {"api_enabled": "on", "rate_limit": "-1"})
    assert r.status_code == 400
    assert KeyConfig.objects.get(app=app).ip_allowlist == "" and not ApiRateLimit.objects.filter(app=app).exists()
    assert client_for(marketer).post(url, {"api_enabled": "on", "ip_allowlist": "10.0.0.0/8"}).status_code == 403
    assert KeyConfig.objects.get(app=app).ip_allowlist == ""

    r = admin.post(url, {"api_enabled": "on", "ip_allowlist": "10.0.0.0/8, 192.168.1.7", "rate_limit": "2"})
    assert r.status_code == 302
    assert KeyConfig.objects.get(app=app).ip_allowlist == "10.0.0.0/8\n192.168.1.7"
    assert ApiRateLimit.objects.get(app=app).per_minute == 2
    page = admin.get(f"/apps/{app.app_key}/keys/").content.decode()
    assert "<code>192.168.1.7</code>" in page and 'data-testid="api-rate-limit">2<' in page
    assert signed.post(PING, {}).status_code == 403  # 127.0.0.1 is not in the list now
    entry = AuditEntry.objects.filter(action="keys.api_save").latest("pk")
    assert entry.summary["before"]["ip_allowlist"] == "" and entry.summary["after"]["rate_limit"] == 2

    assert admin.post(url, {"api_enabled": "on", "ip_allowlist": "", "rate_limit": ""}).status_code == 302
    assert signed.post(PING, {}).status_code == 200
    assert not ApiRateLimit.objects.filter(app=app).exists()
    assert "(the default)" in admin.get(f"/apps/{app.app_key}/keys/").content.decode()
