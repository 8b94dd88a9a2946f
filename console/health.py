"""Credential health for the overview: ok / expiring / expired / failing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import ApnsCertificate, ApnsTokenKey, App, FcmCredential, VendorChannel


def credential_refused(credential, message: str, *, now: datetime | None = None) -> None:
    """The service refused this credential (vendor, FCM or APNs): keep its words for the health table."""
    message = (message or "refused")[:200]
    type(credential).objects.filter(pk=credential.pk).exclude(last_error=message).update(
        last_error=message, last_error_at=now or timezone.now()
    )


def credential_worked(credential) -> None:
    """A send with this credential was accepted: it is healthy again (one UPDATE only when it was failing)."""
    type(credential).objects.filter(pk=credential.pk).exclude(last_error="").update(last_error="", last_error_at=None)


def _state(last_error: str, expired: bool = False, expiring: bool = False) -> str:
    if expired:
        return "expired"
    if last_error:
        return "failing"
    if expiring:
        return "expiring"
    return "ok"


def days_left_rounded_up(remaining: timedelta) -> int:
    """9 days 23 hours is "10 days" (banner and health table): a person plans with the days they still have."""
    return max(-(-remaining // timedelta(days=1)), 0)


def credential_health(*, app: App, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    rows: list[dict] = []
    for cert in ApnsCertificate.objects.filter(app=app, is_active=True):
        days = days_left_rounded_up(cert.not_after - now)
        rows.append(
            {
                "kind": _("APNs certificate"),
                "name": f"{cert.topic} ({cert.get_environment_display()})",
                "state": _state(
                    cert.last_error,
                    cert.is_expired(now),
                    cert.not_after - now <= timedelta(days=settings.PUSHDECK_CERT_WARNING_DAYS),
                ),
                "detail": cert.last_error,
                "expires": cert.not_after,
                "days_left": days,
            }
        )
    for key in ApnsTokenKey.objects.filter(app=app, is_active=True):
        rows.append(
            {
                "kind": _("APNs token key"),
                "name": f"{key.key_id} / {key.team_id}",
                "state": _state(key.last_error),
                "detail": key.last_error,
                "expires": None,
                "days_left": None,
            }
        )
    fcm = FcmCredential.objects.filter(app=app, enabled=True).first()
    if fcm:
        rows.append(
            {
                "kind": _("FCM"),
                "name": fcm.project_id,
                "state": _state(fcm.last_error),
                "detail": fcm.last_error,
                "expires": None,
                "days_left": None,
            }
        )
    for channel in VendorChannel.objects.filter(app=app, enabled=True).select_related("package"):
        rows.append(
            {
                "kind": channel.get_vendor_display(),
                "name": channel.package.package_name,
                "state": _state(channel.last_error),
                "detail": channel.last_error,
                "expires": None,
                "days_left": None,
            }
        )
    return rows
