"""Sign-in security: lockout after repeated failures, TOTP two-factor required per role."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from console.models import AuditEntry
from console.security.models import TwoFactorPolicy

from .conftest import totp

LOGIN = "/accounts/login/"


def _login(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


@pytest.mark.django_db
def test_repeated_failures_lock_the_account_out_and_are_audited(marketer, password, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _login(client, marketer.username, "wrong-password")
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    locked = _login(client, marketer.username, "wrong-password")
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    # Even the right password is refused while locked out.
    again = _login(client, marketer.username, password)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session
    entry = AuditEntry.objects.filter(action="auth.lockout").first()
    assert entry is not None
    assert entry.actor_label == marketer.username
    assert entry.ip == "127.0.0.1"
    assert "wrong-password" not in str(entry.summary)


@pytest.mark.django_db
def test_a_success_resets_the_failure_count(marketer, password, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, marketer.username, "wrong-password")
    assert _login(client, marketer.username, password).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, marketer.username, "wrong-password").status_code == 200


def _secret_from(response) -> str:
    match = re.search(rb"data-totp-secret>([A-Z2-7]+)<", response.content)
    assert match, response.content[:2000]
    return match.group(1).decode()


@pytest.mark.django_db
def test_superuser_requires_two_factor_for_a_role_and_the_sign_in_asks_for_the_code(
    superuser, marketer, auditor, password, client_for
):
    admin = client_for(superuser)
    response = admin.post("/users/security/", {"require_marketers": "on"})
    assert response.status_code == 302
    assert TwoFactorPolicy.current().required_roles() == {"marketer"}
    assert AuditEntry.objects.filter(action="security.two_factor_policy", actor=superuser).exists()

    # The auditor's role does not require it: straight in.
    other = Client()
    assert _login(other, auditor.username, password).status_code == 302
    assert other.get("/").status_code in (200, 302)
    assert "/accounts/two-factor" not in other.get("/", follow=True).redirect_chain[-1][0]

    # The marketer has no authenticator yet: every page leads to enrolment.
    client = Client()
    assert _login(client, marketer.username, password).status_code == 302
    page = client.get("/profile/")
    assert page.status_code == 302 and page["Location"] == "/accounts/two-factor/?next=%2Fprofile%2F"
    setup = client.get("/accounts/two-factor/", follow=True)
    assert setup.redirect_chain[-1][0].startswith("/accounts/two-factor/setup/")
    secret = _secret_from(setup)
    assert f"otpauth://totp/Pushdeck%3A{marketer.username}?secret={secret}".encode() in setup.content.replace(
        b"&amp;", b"&"
    )
    # Shown once: the next visit shows a different secret and the first one is gone.
    second = client.get("/accounts/two-factor/setup/")
    assert _secret_from(second) != secret
    secret = _secret_from(second)
    assert b"no-store" in second["Cache-Control"].encode()

    wrong = client.post("/accounts/two-factor/setup/", {"code": "000000" if totp(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and b"This code is not valid" in wrong.content
    assert not TOTPDevice.objects.filter(user=marketer, confirmed=True).exists()

    # django-otp throttles after a failure (1 s, doubling): even the right code waits.
    throttled = client.post("/accounts/two-factor/setup/", {"code": totp(secret)})
    assert throttled.status_code == 200
    time.sleep(1.1)
    done = client.post("/accounts/two-factor/setup/", {"code": totp(secret), "next": "/profile/"})
    assert done.status_code == 302 and done["Location"] == "/profile/"
    assert client.get("/profile/").status_code == 200
    assert AuditEntry.objects.filter(action="auth.2fa_enrol", actor=marketer).exists()

    # Next sign-in: password, then the code.
    client.post("/accounts/logout/")
    client = Client()
    assert _login(client, marketer.username, password).status_code == 302
    assert client.get("/profile/")["Location"].startswith("/accounts/two-factor/")
    # The password alone cannot replace the authenticator.
    assert client.get("/accounts/two-factor/setup/")["Location"].startswith("/accounts/two-factor/?")
    bad = client.post("/accounts/two-factor/", {"code": "12345x"})
    assert bad.status_code == 200 and b"Enter the 6-digit code" in bad.content
    # Failures so far: the wrong enrolment code and the throttled one; the malformed code never reached a device.
    assert AuditEntry.objects.filter(action="auth.2fa_failed", actor=marketer).count() == 2
    # The code of the enrolment step was used; the next one is accepted (one step of drift is allowed).
    ok = client.post("/accounts/two-factor/", {"code": totp(secret, time.time() + 30), "next": "/profile/"})
    assert ok.status_code == 302 and ok["Location"] == "/profile/"
    assert client.get("/profile/").status_code == 200
    assert AuditEntry.objects.filter(action="auth.2fa_verified", actor=marketer).exists()


@pytest.mark.django_db
def test_a_wrong_code_is_refused_and_audited(marketer, password):
    TwoFactorPolicy.objects.create(require_marketers=True)
    device = TOTPDevice.objects.create(user=marketer, name="phone", confirmed=True)
    secret = __import__("base64").b32encode(device.bin_key).decode().rstrip("=")
    client = Client()
    _login(client, marketer.username, password)
    wrong = str((int(totp(secret)) + 1) % 1_000_000).zfill(6)
    response = client.post("/accounts/two-factor/", {"code": wrong})
    assert response.status_code == 200
    assert b"This code is not valid" in response.content
    assert client.get("/profile/").status_code == 302
    assert AuditEntry.objects.filter(action="auth.2fa_failed", actor=marketer).exists()


@pytest.mark.django_db
def test_superuser_resets_a_lost_authenticator(superuser, marketer, client_for):
    TOTPDevice.objects.create(user=marketer, name="phone", confirmed=True)
    page = client_for(superuser).get("/users/security/")
    assert page.status_code == 200 and marketer.username.encode() in page.content
    response = client_for(superuser).post(f"/users/{marketer.pk}/two-factor/reset/")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=marketer).exists()
    assert AuditEntry.objects.filter(action="auth.2fa_reset", target=marketer.username).exists()


@pytest.mark.django_db
def test_only_superusers_change_the_policy(channel_admin, client_for):
    response = client_for(channel_admin).post("/users/security/", {"require_marketers": "on"})
    assert response.status_code == 403
    assert not TwoFactorPolicy.objects.exists()


def test_sessions_expire_and_passwords_have_rules(settings):
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    names = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert {"MinimumLengthValidator", "CommonPasswordValidator"} <= set(names)


@pytest.mark.django_db
def test_behind_a_proxy_lockouts_count_per_client_address(marketer, password, settings):
    settings.PUSHDECK_BEHIND_PROXY = True
    settings.AXES_FAILURE_LIMIT = 2

    def attempt(client_ip, pw):
        return Client().post(
            LOGIN, {"username": marketer.username, "password": pw},
            REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=client_ip,
        )  # fmt: skip

    attempt("198.51.100.7", "wrong-password")
    assert attempt("198.51.100.7", "wrong-password").status_code == 429
    # Another person behind the same proxy is not locked out by the attacker.
    assert attempt("203.0.113.20", password).status_code == 302
    assert AuditEntry.objects.filter(action="auth.lockout").first().ip == "198.51.100.7"
