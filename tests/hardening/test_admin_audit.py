"""Changes made in the Django admin are audited like console changes: users, OTP devices, lockouts."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from console.models import AuditEntry

pytestmark = pytest.mark.django_db


def _admin_entries(action):
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def test_admin_changes_to_users_devices_and_lockouts_are_audited(superuser, marketer, client_for):
    c = client_for(superuser)
    User = get_user_model()
    # A change: the marketer becomes staff. The entry names the fields, never their values.
    page = c.get(f"/django-admin/auth/user/{marketer.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list | tuple)}
    data.update(
        {
            "username": marketer.username,
            "is_staff": "on",
            "is_active": "on",
            "date_joined_0": marketer.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": marketer.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("password", None)
    data.pop("last_login", None)
    response = c.post(f"/django-admin/auth/user/{marketer.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(pk=marketer.pk).is_staff
    (entry,) = _admin_entries("admin.change")
    assert entry.actor == superuser and entry.summary["model"] == "auth.User"
    assert "Staff status" in entry.summary["fields"]
    assert entry.summary["object"] == str(marketer.pk) and entry.ip == "127.0.0.1"

    # A deletion through the bulk action: an authenticator and a lockout.
    device = TOTPDevice.objects.create(user=marketer, name="phone", confirmed=True)
    attempt = AccessAttempt.objects.create(
        username="someone", ip_address="10.0.0.1", user_agent="x", failures_since_start=9, get_data="", post_data=""
    )
    for path, pk in (("otp_totp/totpdevice", device.pk), ("axes/accessattempt", attempt.pk)):
        response = c.post(
            f"/django-admin/{path}/", {"action": "delete_selected", "_selected_action": [pk], "post": "yes"}
        )
        assert response.status_code == 302, (path, response.status_code)
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    assert not AccessAttempt.objects.filter(pk=attempt.pk).exists()
    deleted = {e.summary["model"] for e in _admin_entries("admin.delete")}
    assert deleted == {"otp_totp.TOTPDevice", "axes.AccessAttempt"}


def test_an_admin_addition_is_audited(superuser, client_for):
    c = client_for(superuser)
    response = c.post(
        "/django-admin/auth/user/add/",
        {
            "username": "new_person",
            "password1": "a-Long-pass-9931",
            "password2": "a-Long-pass-9931",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    (entry,) = _admin_entries("admin.add")
    assert entry.summary["model"] == "auth.User" and "new_person" in entry.target
    assert "a-Long-pass-9931" not in str(entry.summary) + entry.target
