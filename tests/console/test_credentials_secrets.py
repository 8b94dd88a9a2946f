"""After saving, no secret (nor its base64) reaches a page, a log record or an export."""

import base64
import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from console import crypto
from console.models import FcmCredential, KeyConfig, Vendor, VendorChannel
from console.services import receipt_keypair_generate
from tests import certs

P12_PASSWORD = "p12-Passw0rd-zebra-41"
VENDOR_SECRETS = {
    Vendor.HUAWEI: {"secret_app_secret": "hw-secret-7f3a9c1d2e"},
    Vendor.XIAOMI: {"secret_app_secret": "xm-secret-QWxpY2UxMjM0"},
    Vendor.OPPO: {"vendor_app_key": "oppo-public-key", "secret_master_secret": "oppo-master-5b8e1f"},
    Vendor.VIVO: {"vendor_app_id": "10001", "vendor_app_key": "vivo-key", "secret_master_secret": "vivo-master-93c2aa"},
    Vendor.HONOR: {"vendor_app_id": "104", "vendor_app_key": "honor-client", "secret_client_secret": "honor-cs-61d0e7"},
    Vendor.MEIZU: {"vendor_app_id": "1188", "secret_app_secret": "mz-secret-c4d5e6f7"},
}


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def _service_account() -> dict:
    return {
        "type": "service_account",
        "project_id": "shop-prod-1234",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": certs.rsa_private_pem(2048, 5),
        "client_email": "push@shop-prod-1234.iam.gserviceaccount.com",
        "client_id": "1234567890",
    }


def _needles(secrets: list[str | bytes]) -> list[str]:
    found = []
    for secret in secrets:
        raw = secret if isinstance(secret, bytes) else secret.encode()
        text = raw.decode("latin-1")
        b64 = base64.b64encode(raw).decode()
        found += [text, b64, b64[:40], base64.urlsafe_b64encode(raw).decode()[:40]]
        if b"-----BEGIN" in raw:
            body = _pem_body(raw.decode())
            found += [body[:40], body[-40:]]
    return [n for n in found if len(n) >= 8]


@pytest.mark.django_db
def test_no_secret_in_pages_logs_or_exports(app, channel_admin, marketer, auditor, client_for, caplog):
    caplog.set_level(logging.DEBUG)
    admin = client_for(channel_admin)
    package = app.packages.create(package_name=app.android_package, is_main=True)

    cert, key = certs.leaf(app.ios_bundle_id, kind="universal")
    p12 = certs.p12(cert, key, P12_PASSWORD)
    r = admin.post(
        f"/apps/{app.app_key}/push-config/apns/certificate/",
        {"certificate": SimpleUploadedFile("c.p12", p12), "password": P12_PASSWORD},
    )
    assert r.status_code == 302
    p8 = certs.p8_key()
    r = admin.post(
        f"/apps/{app.app_key}/push-config/apns/token/",
        {
            "key_file": SimpleUploadedFile("AuthKey.p8", p8.encode()),
            "key_id": "ABC123DEFG",
            "team_id": "TEAM123456",
            "topic": app.ios_bundle_id,
            "environment": "production",
        },
    )
    assert r.status_code == 302
    account = _service_account()
    account_json = json.dumps(account)
    r = admin.post(
        f"/apps/{app.app_key}/push-config/fcm/",
        {"enabled": "on", "service_account": SimpleUploadedFile("sa.json", account_json.encode())},
    )
    assert r.status_code == 302
    vendor_secrets = []
    for vendor, fields in VENDOR_SECRETS.items():
        data = {"enabled": "on", "vendor_app_id": "app-id-1", **fields}
        r = admin.post(
            f"/apps/{app.app_key}/push-config/packages/{package.pk}/{vendor}/",
            {f"{package.pk}-{vendor}-{k}": v for k, v in data.items()},
        )
        assert r.status_code == 302, (vendor, r.content.decode()[-3000:])
        vendor_secrets += [v for k, v in fields.items() if k.startswith("secret_")]
    # A refused form re-rendered with errors must not echo the typed secret either.
    r = admin.post(
        f"/apps/{app.app_key}/push-config/packages/{package.pk}/huawei/",
        {f"{package.pk}-huawei-secret_app_secret": "typed-but-refused-secret-99"},
    )
    assert r.status_code == 400
    assert "typed-but-refused-secret-99" not in r.content.decode()
    receipt_keypair_generate(app=app, actor=channel_admin)
    config = KeyConfig.objects.get(app=app)

    # What was saved is there, encrypted and readable.
    fcm = FcmCredential.objects.get(app=app)
    assert fcm.enabled and json.loads(fcm.service_account)["private_key"] == account["private_key"]
    channel = VendorChannel.objects.get(package=package, vendor=Vendor.VIVO)
    assert json.loads(channel.secrets) == {"master_secret": "vivo-master-93c2aa"}

    secrets = [
        P12_PASSWORD,
        p12,
        p8,
        account["private_key"],
        account_json,
        config.console_private_key,
        app.app_secret,
        *vendor_secrets,
    ]
    needles = _needles(secrets)

    bodies = []
    for user in (channel_admin, marketer, auditor):
        c = client_for(user)
        for path in ("", "push-config/", "keys/", "keys/receipt/public.pem", "audit/", "audit/export.csv"):
            response = c.get(f"/apps/{app.app_key}/{path}")
            if response.status_code == 200:
                content = b"".join(response.streaming_content) if response.streaming else response.content
                bodies.append((user.username, path, content.decode("utf-8", "replace")))
    assert any(path == "audit/export.csv" for _u, path, _b in bodies)
    assert any("credentials.vendor_save" in b for _u, path, b in bodies if path == "audit/export.csv")
    logs = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "audit credentials.apns_certificate_upload" in logs
    for needle in needles:
        for user, path, body in bodies:
            assert needle not in body, (user, path, needle[:12])
        assert needle not in logs, needle[:12]

    # The admin sees masked values and fingerprints instead.
    admin_page = next(b for u, p, b in bodies if u == channel_admin.username and p == "push-config/")
    assert crypto.mask("vivo-master-93c2aa") in admin_page
    assert fcm.project_id in admin_page and fcm.private_key_id in admin_page
    marketer_page = next(b for u, p, b in bodies if u == marketer.username and p == "push-config/")
    assert "<form" not in marketer_page.split('id="main"')[1]
    assert "••••" not in marketer_page and fcm.fingerprint not in marketer_page


def test_empty_secret_field_keeps_the_stored_one(app, channel_admin, client_for):
    admin = client_for(channel_admin)
    package = app.packages.create(package_name=app.android_package, is_main=True)
    url = f"/apps/{app.app_key}/push-config/packages/{package.pk}/{Vendor.HUAWEI}/"
    prefix = f"{package.pk}-huawei-"
    r = admin.post(
        url,
        {prefix + "enabled": "on", prefix + "vendor_app_id": "1001", prefix + "secret_app_secret": "first-secret-abc"},
    )
    assert r.status_code == 302
    r = admin.post(url, {prefix + "vendor_app_id": "1002", prefix + "secret_app_secret": ""})
    assert r.status_code == 302
    channel = VendorChannel.objects.get(package=package, vendor="huawei")
    assert channel.vendor_app_id == "1002" and not channel.enabled
    assert json.loads(channel.secrets) == {"app_secret": "first-secret-abc"}
