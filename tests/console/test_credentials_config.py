"""Token keys, FCM, vendor channels, packages and key management: validation, roles, audit."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.files.uploadedfile import SimpleUploadedFile

from console.credentials import parsing
from console.models import ApnsTokenKey, AuditEntry, ChannelPackage, FcmCredential, KeyConfig, VendorChannel
from console.services import receipt_keypair_generate
from tests import certs


@pytest.fixture
def admin(channel_admin, client_for):
    return client_for(channel_admin)


def _token_post(admin, app, key_text, **over):
    data = {"key_id": "ABC123DEFG", "team_id": "TEAM123456", "topic": app.ios_bundle_id, "environment": "production"}
    data.update(over)
    if key_text is not None:
        data["key_file"] = SimpleUploadedFile("AuthKey.p8", key_text.encode())
    return admin.post(f"/apps/{app.app_key}/push-config/apns/token/", data)


def test_token_key_must_be_p256_with_ten_character_ids(app, admin):
    r = _token_post(admin, app, certs.p8_key(ec.SECP384R1()))
    assert r.status_code == 400 and "An APNs token key must be an EC P-256 private key." in r.content.decode()
    r = _token_post(admin, app, certs.rsa_private_pem())
    assert r.status_code == 400 and "EC P-256" in r.content.decode()
    r = _token_post(admin, app, "not a key")
    assert r.status_code == 400 and "This is not a PEM private key" in r.content.decode()
    r = _token_post(admin, app, certs.p8_key(), key_id="SHORT")
    assert r.status_code == 400 and "Enter exactly 10 letters or digits." in r.content.decode()
    assert not ApnsTokenKey.objects.exists()
    assert _token_post(admin, app, certs.p8_key()).status_code == 302
    first = ApnsTokenKey.objects.get(app=app, is_active=True)
    # Changing the ids without a new file keeps the stored key.
    assert _token_post(admin, app, None, team_id="TEAM999999").status_code == 302
    second = ApnsTokenKey.objects.get(app=app, is_active=True)
    assert second.key_pem == first.key_pem and second.team_id == "TEAM999999"
    assert ApnsTokenKey.objects.filter(app=app).count() == 2


def test_admin_chooses_which_apns_credential_sends(app, admin):
    r = admin.post(f"/apps/{app.app_key}/push-config/apns/auth/", {"apns_auth": "token"})
    assert r.status_code == 400 and "Save a token key (.p8) before choosing token authentication." in r.content.decode()
    _token_post(admin, app, certs.p8_key())
    assert admin.post(f"/apps/{app.app_key}/push-config/apns/auth/", {"apns_auth": "token"}).status_code == 302
    app.refresh_from_db()
    assert app.apns_auth == "token"
    assert AuditEntry.objects.filter(action="credentials.apns_auth", app=app).exists()


def _account(**over):
    data = {
        "type": "service_account",
        "project_id": "shop-1",
        "private_key_id": "abc123",
        "private_key": certs.rsa_private_pem(2048, 5),
        "client_email": "push@shop-1.iam.gserviceaccount.com",
    }
    data.update(over)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "The file is not valid JSON."),
        (_account(type="authorized_user"), "The JSON is not a service account"),
        (_account(project_id=""), "The service account has no &quot;project_id&quot;."),
        (_account(private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "does not parse"),
    ],
)
def test_fcm_service_account_is_validated(app, admin, content, message):
    r = admin.post(
        f"/apps/{app.app_key}/push-config/fcm/",
        {"enabled": "on", "service_account": SimpleUploadedFile("a.json", content)},
    )
    assert r.status_code == 400
    assert message in r.content.decode()
    assert not FcmCredential.objects.filter(app=app).exclude(service_account="").exists()


def test_fcm_shows_project_and_key_id_and_switches(app, admin):
    r = admin.post(
        f"/apps/{app.app_key}/push-config/fcm/",
        {"enabled": "on", "service_account": SimpleUploadedFile("a.json", _account())},
    )
    assert r.status_code == 302
    page = admin.get(f"/apps/{app.app_key}/push-config/").content.decode()
    assert "shop-1" in page and "abc123" in page
    assert admin.post(f"/apps/{app.app_key}/push-config/fcm/", {}).status_code == 302
    fcm = FcmCredential.objects.get(app=app)
    assert not fcm.enabled and fcm.project_id == "shop-1"


def test_package_with_vendor_keys_cannot_be_deleted(app, admin):
    assert (
        admin.post(f"/apps/{app.app_key}/push-config/packages/", {"package_name": "not a package"}).status_code == 400
    )
    assert (
        admin.post(f"/apps/{app.app_key}/push-config/packages/", {"package_name": "com.shop.main"}).status_code == 302
    )
    assert admin.post(f"/apps/{app.app_key}/push-config/packages/", {"package_name": "com.shop.hw"}).status_code == 302
    extra = ChannelPackage.objects.get(app=app, package_name="com.shop.hw")
    p = f"{extra.pk}-xiaomi-"
    r = admin.post(
        f"/apps/{app.app_key}/push-config/packages/{extra.pk}/xiaomi/",
        {p + "enabled": "on", p + "secret_app_secret": "xm"},
    )
    assert r.status_code == 302
    r = admin.post(f"/apps/{app.app_key}/push-config/packages/{extra.pk}/delete/", follow=True)
    assert "Package com.shop.hw still has vendor keys (1). Delete them first." in r.content.decode()
    assert ChannelPackage.objects.filter(pk=extra.pk).exists()
    assert VendorChannel.objects.filter(package=extra).count() == 1
    admin.post(f"/apps/{app.app_key}/push-config/packages/{extra.pk}/xiaomi/delete/")
    admin.post(f"/apps/{app.app_key}/push-config/packages/{extra.pk}/delete/")
    assert not ChannelPackage.objects.filter(pk=extra.pk).exists()
    assert AuditEntry.objects.filter(action="credentials.package_delete", target="com.shop.hw").exists()


def test_vendor_form_requires_its_fields(app, admin):
    package = ChannelPackage.objects.create(app=app, package_name="com.shop.main", is_main=True)
    r = admin.post(f"/apps/{app.app_key}/push-config/packages/{package.pk}/vivo/", {})
    html = r.content.decode()
    assert r.status_code == 400 and html.count("This field is required.") == 3
    assert admin.post(f"/apps/{app.app_key}/push-config/packages/{package.pk}/nokia/", {}).status_code == 404


def test_api_key_is_validated_and_fingerprinted(app, admin):
    url = f"/apps/{app.app_key}/keys/api/"
    r = admin.post(url, {"api_enabled": "on"})
    assert r.status_code == 400 and "Paste the RSA public key before switching the Push API on." in r.content.decode()
    r = admin.post(url, {"public_key": certs.rsa_public_pem(1024, 7)})
    assert r.status_code == 400 and "The key has 1024 bits; at least 2048 are needed." in r.content.decode()
    r = admin.post(url, {"public_key": certs.rsa_private_pem()})
    assert r.status_code == 400 and "This is a private key." in r.content.decode()
    r = admin.post(url, {"public_key": "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----"})
    assert r.status_code == 400 and "This is not a PEM public key" in r.content.decode()
    assert KeyConfig.objects.get(app=app).customer_public_key == ""
    assert admin.post(url, {"api_enabled": "on", "public_key": certs.rsa_public_pem()}).status_code == 302
    config = KeyConfig.objects.get(app=app)
    assert config.api_enabled and config.customer_key_fingerprint == parsing.pem_public_key_fingerprint(
        certs.rsa_public_pem()
    )
    assert config.customer_key_fingerprint in admin.get(f"/apps/{app.app_key}/keys/").content.decode()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/cb", "must start with http:// or https://"),
        ("http://169.254.169.254/latest/meta-data/", "link-local or cloud metadata"),
        ("http://[fe80::1]/cb", "link-local or cloud metadata"),
        ("http://[::ffff:169.254.169.254]/cb", "link-local or cloud metadata"),
        ("http://100.100.100.200/latest/meta-data/", "link-local or cloud metadata"),
        ("http://metadata.google.internal/cb", "cloud metadata service"),
        ("http://no-such-host.invalid/cb", "does not resolve"),
    ],
)
def test_callback_url_refuses_bad_targets(app, admin, url, message):
    r = admin.post(f"/apps/{app.app_key}/keys/callback/", {"callback_enabled": "on", "callback_url": url})
    assert r.status_code == 400 and message in r.content.decode()
    assert KeyConfig.objects.get(app=app).callback_url == ""


def test_callback_url_is_saved(app, admin):
    r = admin.post(
        f"/apps/{app.app_key}/keys/callback/",
        {"callback_enabled": "on", "callback_url": "https://localhost:8443/receipts"},
    )
    assert r.status_code == 302
    config = KeyConfig.objects.get(app=app)
    assert config.callback_enabled and config.callback_url == "https://localhost:8443/receipts"


def test_receipt_key_regeneration_needs_confirmation_and_is_audited(app, admin, channel_admin):
    receipt_keypair_generate(app=app)
    old = KeyConfig.objects.get(app=app).console_public_key
    r = admin.post(f"/apps/{app.app_key}/keys/receipt/regenerate/", {})
    assert r.status_code == 400 and "Tick the box to confirm the new key pair." in r.content.decode()
    assert KeyConfig.objects.get(app=app).console_public_key == old
    assert admin.post(f"/apps/{app.app_key}/keys/receipt/regenerate/", {"confirm": "on"}).status_code == 302
    new = KeyConfig.objects.get(app=app).console_public_key
    assert new != old
    assert AuditEntry.objects.filter(action="keys.receipt_keypair", actor=channel_admin).exists()
    download = admin.get(f"/apps/{app.app_key}/keys/receipt/public.pem")
    assert download.content.decode() == new and "attachment" in download["Content-Disposition"]
    assert new in admin.get(f"/apps/{app.app_key}/keys/").content.decode()


def test_marketer_sees_health_but_no_form_and_auditor_sees_the_audit_trail(app, admin, marketer, auditor, client_for):
    admin.post(f"/apps/{app.app_key}/push-config/packages/", {"package_name": "com.shop.main"})
    page = client_for(marketer).get(f"/apps/{app.app_key}/push-config/").content.decode()
    main = page.split('id="main"')[1]
    assert "Credential health" in main and "<form" not in main
    assert (
        client_for(marketer).post(f"/apps/{app.app_key}/push-config/packages/", {"package_name": "com.x.y"}).status_code
        == 403
    )
    keys_page = client_for(marketer).get(f"/apps/{app.app_key}/keys/").content.decode()
    assert "<form" not in keys_page.split('id="main"')[1]
    audit = client_for(auditor).get(f"/apps/{app.app_key}/audit/").content.decode()
    assert "credentials.package_create" in audit
