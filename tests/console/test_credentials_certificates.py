"""The APNs certificate matrix: each file is parsed or refused, and a refusal changes nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from console.credentials import parsing
from console.models import ApnsCertificate, AuditEntry
from tests import certs

PASSWORD = "s3cret-p12"


def _upload(client, app, data, password=PASSWORD, name="push.p12", **extra):
    return client.post(
        f"/apps/{app.app_key}/push-config/apns/certificate/",
        {
            "certificate": SimpleUploadedFile(name, data, content_type="application/x-pkcs12"),
            "password": password,
            **extra,
        },
    )


def _snapshot(app):
    return list(
        ApnsCertificate.objects.filter(app=app)
        .order_by("pk")
        .values_list("pk", "is_active", "fingerprint", "not_after", "topic", "environment")
    )


@pytest.fixture
def admin_client(channel_admin, client_for):
    return client_for(channel_admin)


@pytest.fixture
def active_cert(app, admin_client):
    cert, key = certs.leaf(app.ios_bundle_id, kind="production")
    response = _upload(admin_client, app, certs.p12(cert, key))
    assert response.status_code == 302, response.content.decode()[:2000]
    return ApnsCertificate.objects.get(app=app, is_active=True)


@pytest.mark.parametrize(
    ("kind", "environment"), [("development", "development"), ("production", "production"), ("universal", "both")]
)
def test_apple_certificates_are_parsed_with_their_environment(app, admin_client, kind, environment):
    cert, key = certs.leaf(app.ios_bundle_id, kind=kind)
    response = _upload(admin_client, app, certs.p12(cert, key))
    assert response.status_code == 302
    saved = ApnsCertificate.objects.get(app=app, is_active=True)
    assert saved.environment == environment
    assert saved.topic == app.ios_bundle_id
    assert saved.serial == format(cert.serial_number, "X")
    assert saved.not_after == cert.not_valid_after_utc.replace(microsecond=0)
    assert "Apple Worldwide Developer Relations" in saved.issuer
    # Stored encrypted; read back it is the same certificate with its password.
    assert parsing.parse_p12(bytes(saved.p12), saved.password).fingerprint == saved.fingerprint
    if kind == "universal":
        assert saved.topics == [app.ios_bundle_id, app.ios_bundle_id + ".voip"]
    page = admin_client.get(f"/apps/{app.app_key}/push-config/").content.decode()
    assert saved.get_environment_display() in page
    assert saved.not_after.strftime("%Y-%m-%d") in page
    entry = AuditEntry.objects.get(action="credentials.apns_certificate_upload", app=app)
    assert entry.summary["after"] == saved.fingerprint


def test_legacy_rc2_export_made_by_openssl_is_read(app, admin_client):
    cert, key = certs.leaf(app.ios_bundle_id, kind="development")
    data = certs.legacy_p12(cert, key)
    assert b"\x06\x0a\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01\x06" in data  # pbeWithSHA1And40BitRC2-CBC
    response = _upload(admin_client, app, data)
    assert response.status_code == 302
    assert ApnsCertificate.objects.get(app=app, is_active=True).environment == "development"


def _expired():
    now = datetime.now(UTC)
    return certs.leaf(
        "com.example.expired",
        kind="production",
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
    )


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("wrong_password", "password", "The password is wrong for this .p12 file."),
        ("random_bytes", "certificate", "This file is not a PKCS#12 (.p12) file."),
        ("pem_named_p12", "certificate", "This is a PEM text file, not a PKCS#12 (.p12) file."),
        ("no_private_key", "certificate", "The .p12 file holds no private key."),
        ("not_apple", "certificate", "This is not an Apple Push Notification service certificate."),
        ("expired", "certificate", "This certificate expired on"),
        ("too_large", "certificate", "The file is larger than 64 KB"),
        ("bundle_mismatch", "override_bundle_id", "but the app&#x27;s iOS bundle id is"),
    ],
)
def test_each_bad_certificate_is_refused_and_the_active_one_stays(app, admin_client, active_cert, case, field, message):
    import os

    before = _snapshot(app)
    audits = AuditEntry.objects.count()
    good, good_key = certs.leaf(app.ios_bundle_id, kind="development")
    data, password = {
        "wrong_password": (certs.p12(good, good_key), "not-the-password"),
        "random_bytes": (os.urandom(2048), PASSWORD),
        "pem_named_p12": (certs.pem_bundle(good, good_key), PASSWORD),
        "no_private_key": (certs.p12(good, good_key, with_key=False), PASSWORD),
        "not_apple": (certs.p12(*certs.leaf(app.ios_bundle_id, kind="plain")), PASSWORD),
        "expired": (certs.p12(*_expired()), PASSWORD),
        "too_large": (os.urandom(parsing.MAX_P12_BYTES + 10), PASSWORD),
        "bundle_mismatch": (certs.p12(*certs.leaf("com.someone.else", kind="production")), PASSWORD),
    }[case]
    response = _upload(admin_client, app, data, password=password)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'id="id_{field}_error"' in html
    assert _snapshot(app) == before
    assert ApnsCertificate.objects.get(app=app, is_active=True).pk == active_cert.pk
    assert AuditEntry.objects.count() == audits


def test_bundle_mismatch_is_accepted_with_the_explicit_override(app, admin_client, active_cert):
    cert, key = certs.leaf("com.someone.else", kind="production")
    response = _upload(admin_client, app, certs.p12(cert, key), override_bundle_id="on")
    assert response.status_code == 302
    new = ApnsCertificate.objects.get(app=app, is_active=True)
    assert new.topic == "com.someone.else"
    assert (
        AuditEntry.objects.filter(action="credentials.apns_certificate_upload").latest("at").summary["bundle_override"]
    )


def test_reupload_replaces_the_active_certificate_and_keeps_history(app, admin_client, active_cert):
    cert, key = certs.leaf(app.ios_bundle_id, kind="universal")
    assert _upload(admin_client, app, certs.legacy_p12(cert, key)).status_code == 302
    rows = list(ApnsCertificate.objects.filter(app=app).order_by("uploaded_at"))
    assert [r.is_active for r in rows] == [False, True]
    assert rows[0].pk == active_cert.pk and rows[0].fingerprint == active_cert.fingerprint
    page = admin_client.get(f"/apps/{app.app_key}/push-config/").content.decode()
    assert page.count("Replaced") == 1 and active_cert.serial in page


def test_marketer_and_auditor_cannot_upload(app, marketer, auditor, client_for, active_cert):
    before = _snapshot(app)
    cert, key = certs.leaf(app.ios_bundle_id)
    for user in (marketer, auditor):
        assert _upload(client_for(user), app, certs.p12(cert, key)).status_code == 403
    assert _snapshot(app) == before


def test_cryptography_has_the_openssl_legacy_provider():
    # Legacy RC2/3DES exports need it; the test above proves such a file is read.
    assert parsing.legacy_provider_loaded()


def test_without_the_legacy_provider_a_legacy_export_gets_its_own_message(tmp_path):
    import os
    import subprocess
    import sys

    cert, key = certs.leaf("com.example.shop", kind="production")
    path = tmp_path / "legacy.p12"
    path.write_bytes(certs.legacy_p12(cert, key))
    code = (
        "import sys, django; django.setup()\n"
        "from console.credentials import parsing\n"
        "assert not parsing.legacy_provider_loaded()\n"
        "try:\n"
        f"    parsing.parse_p12(open({str(path)!r}, 'rb').read(), {PASSWORD!r})\n"
        "except parsing.CredentialError as exc:\n"
        "    print(exc.code)\n"
    )
    env = {**os.environ, "CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1", "DJANGO_SETTINGS_MODULE": "console.settings"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "legacy_unavailable", result.stderr[-2000:]
