import base64
import logging

import pytest
from django.db import connection

from console import crypto
from console.models import App, AuditEntry, KeyConfig, Membership, Role


def test_channel_admin_creates_an_app_and_becomes_its_admin(client_for, channel_admin):
    response = client_for(channel_admin).post(
        "/apps/new/", {"name": "Shop", "android_package": "com.shop.app", "ios_bundle_id": "com.shop.ios"}
    )
    created = App.objects.get(name="Shop")
    assert response.status_code == 302 and response["Location"] == f"/apps/{created.app_key}/"
    assert Membership.objects.get(app=created, user=channel_admin).role == Role.CHANNEL_ADMIN
    assert created.packages.get().package_name == "com.shop.app"
    assert AuditEntry.objects.filter(action="app.create", app=created).exists()
    assert len(created.app_key) == 24 and len(created.app_secret) == 64


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("name", "   ", "This field is required."),
        ("android_package", "not a package", "Enter a package name such as com.example.app."),
        ("ios_bundle_id", "bad id!", "Enter a bundle id such as com.example.app."),
    ],
)
def test_bad_app_input_is_refused_with_a_clear_message(client_for, channel_admin, field, value, message):
    data = {"name": "Shop", "android_package": "com.shop.app", "ios_bundle_id": "com.shop.ios", field: value}
    before = App.objects.count()
    response = client_for(channel_admin).post("/apps/new/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert App.objects.count() == before


def test_marketer_and_auditor_cannot_create_apps(client_for, marketer, auditor):
    for user in (marketer, auditor):
        assert client_for(user).post("/apps/new/", {"name": "X"}).status_code == 403
    assert not App.objects.filter(name="X").exists()


def test_secret_is_encrypted_at_rest_and_never_on_a_page_until_revealed(app, channel_admin, client_for, caplog):
    caplog.set_level(logging.DEBUG)
    secret = app.app_secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT app_secret FROM console_app WHERE id = %s", [app.pk])
        stored = cursor.fetchone()[0]
    assert secret not in stored and stored.startswith("gAAAA")
    c = client_for(channel_admin)
    overview = c.get(f"/apps/{app.app_key}/").content.decode()
    assert secret not in overview and secret[-4:] in overview
    revealed = c.post(f"/apps/{app.app_key}/secret/reveal/", HTTP_HX_REQUEST="true")
    assert secret in revealed.content.decode()
    assert "no-store" in revealed["Cache-Control"]
    entry = AuditEntry.objects.get(action="app.secret_reveal")
    assert entry.actor == channel_admin and secret not in str(entry.summary)
    # Nothing else carries it: later pages, the audit log, its export, the logs.
    for url in (f"/apps/{app.app_key}/", f"/apps/{app.app_key}/audit/"):
        assert secret not in c.get(url).content.decode()
    export = b"".join(c.get(f"/apps/{app.app_key}/audit/export.csv").streaming_content).decode()
    b64 = base64.b64encode(secret.encode()).decode()
    for text in (export, caplog.text):
        assert secret not in text and b64 not in text


def test_rotation_issues_a_new_secret_and_audits_fingerprints(app, channel_admin, client_for):
    old = app.app_secret
    response = client_for(channel_admin).post(f"/apps/{app.app_key}/secret/rotate/")
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.app_secret != old and app.app_secret_rotated_at is not None
    entry = AuditEntry.objects.get(action="app.secret_rotate")
    assert entry.summary == {"before": crypto.fingerprint(old), "after": crypto.fingerprint(app.app_secret)}


def test_marketer_sees_the_masked_secret_but_cannot_reveal(app, marketer, client_for):
    c = client_for(marketer)
    page = c.get(f"/apps/{app.app_key}/").content.decode()
    assert "Reveal" not in page and app.app_secret not in page
    assert c.post(f"/apps/{app.app_key}/secret/reveal/").status_code == 403
    assert not AuditEntry.objects.filter(action="app.secret_reveal").exists()


def test_user_sees_only_their_apps_in_the_switcher(app, other_app, marketer, client_for):
    page = client_for(marketer).get(f"/apps/{app.app_key}/").content.decode()
    assert "Main App" in page and "Other App" not in page


def test_members_are_managed_by_channel_admins(app, channel_admin, marketer, client_for):
    from tests.factories import UserFactory

    newcomer = UserFactory(username="newbie")
    c = client_for(channel_admin)
    assert c.post(f"/apps/{app.app_key}/members/", {"username": "newbie", "role": "auditor"}).status_code == 302
    membership = Membership.objects.get(app=app, user=newcomer)
    assert membership.role == Role.AUDITOR
    c.post(f"/apps/{app.app_key}/members/{membership.pk}/role/", {"role": "marketer"})
    membership.refresh_from_db()
    assert membership.role == Role.MARKETER
    response = c.post(f"/apps/{app.app_key}/members/", {"username": "ghost", "role": "auditor"})
    assert "No active user has this username" in response.content.decode()
    c.post(f"/apps/{app.app_key}/members/{membership.pk}/remove/")
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert list(
        AuditEntry.objects.filter(app=app, action__startswith="member.").order_by("id").values_list("action", flat=True)
    ) == ["member.add", "member.change", "member.remove"]


def test_superuser_creates_users_with_password_rules(superuser, client_for):
    c = client_for(superuser)
    weak = c.post("/users/", {"username": "weakling", "password": "123"})
    assert "This password is too short" in weak.content.decode()
    ok = c.post("/users/", {"username": "strong", "password": "a-Long-enough-passphrase-7"})
    assert ok.status_code == 302
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.filter(username="strong").exists()
    assert not get_user_model().objects.filter(username="weakling").exists()


def test_key_rotation_reencrypts_with_the_new_key(app, settings):
    from cryptography.fernet import Fernet

    secret = app.app_secret
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    from django.core.management import call_command

    call_command("rotate_encryption_keys")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert App.objects.get(pk=app.pk).app_secret == secret


def test_receipt_keypair_service_fills_key_config(app):
    from console.services import receipt_keypair_generate

    config = receipt_keypair_generate(app=app)
    assert "BEGIN PUBLIC KEY" in config.console_public_key
    assert KeyConfig.objects.get(app=app).console_private_key.startswith("-----BEGIN PRIVATE KEY")
