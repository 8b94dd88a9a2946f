"""Writes of the security area: the two-factor policy and TOTP devices. All audited."""

from __future__ import annotations

from base64 import b32encode

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from console.audit import audit_record

from .models import TwoFactorPolicy

POLICY_FIELDS = ("require_superusers", "require_channel_admins", "require_marketers", "require_auditors")


@transaction.atomic
def two_factor_policy_update(*, actor, request: HttpRequest | None = None, **flags: bool) -> TwoFactorPolicy:
    """Set which roles must use a second factor."""
    policy = TwoFactorPolicy.objects.select_for_update().order_by("pk").first() or TwoFactorPolicy()
    before = {k: getattr(policy, k) for k in POLICY_FIELDS}
    for key in POLICY_FIELDS:
        if key in flags:
            setattr(policy, key, bool(flags[key]))
    policy.updated_at = timezone.now()
    policy.updated_by = actor
    policy.save()
    after = {k: getattr(policy, k) for k in POLICY_FIELDS}
    audit_record(
        action="security.two_factor_policy", actor=actor, request=request, summary={"before": before, "after": after}
    )
    return policy


def totp_secret(device: TOTPDevice) -> str:
    """The base32 secret people type into an authenticator app."""
    return b32encode(device.bin_key).decode("ascii").rstrip("=")


@transaction.atomic
def totp_enrol_start(*, user) -> TOTPDevice:
    """A fresh unconfirmed TOTP device; any earlier unconfirmed one is dropped (its secret was shown once)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)


@transaction.atomic
def totp_enrol_confirm(*, user, device_id: int, code: str, request: HttpRequest | None = None) -> TOTPDevice | None:
    """Confirm the device when the code matches; replaces earlier confirmed devices."""
    device = TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user, confirmed=False).first()
    if device is None or not device.verify_token(code):
        audit_record(action="auth.2fa_failed", actor=user, request=request, summary={"step": "enrol"})
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_record(action="auth.2fa_enrol", actor=user, request=request, target=user.get_username())
    return device


def totp_verify(*, user, code: str, request: HttpRequest | None = None) -> TOTPDevice | None:
    """The user's confirmed device that accepts this code (throttled by django-otp), else None."""
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code):
            audit_record(action="auth.2fa_verified", actor=user, request=request)
            return device
    audit_record(action="auth.2fa_failed", actor=user, request=request, summary={"step": "sign-in"})
    return None


@transaction.atomic
def totp_reset(*, user, actor, request: HttpRequest | None = None) -> int:
    """Remove a user's devices (lost phone); they enrol again at their next sign-in."""
    deleted, _ = TOTPDevice.objects.filter(user=user).delete()
    audit_record(action="auth.2fa_reset", actor=actor, request=request, target=user.get_username())
    return deleted


def has_totp(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()
