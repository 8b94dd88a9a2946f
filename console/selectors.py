"""Reads of the console app."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .health import days_left_rounded_up as _days_left_rounded_up
from .models import ApnsCertificate, App, AuditEntry


def credential_warnings(*, app: App, now: datetime | None = None) -> list[dict]:
    """The app's active certificate when it expires within the warning window (15 days) or has expired.

    Each warning names the certificate (topic, environment, serial), its days left and its expiry,
    so the banner of every page of the app can say which one to replace.
    """
    now = now or timezone.now()
    window = timedelta(days=settings.PUSHDECK_CERT_WARNING_DAYS)
    warnings = []
    for cert in ApnsCertificate.objects.filter(app=app, is_active=True, not_after__lte=now + window):
        warnings.append(
            {
                "certificate": cert,
                "days_left": _days_left_rounded_up(cert.not_after - now),
                "expired": cert.is_expired(now),
            }
        )
    return warnings


def given_lookups(**lookups: object) -> dict[str, object]:
    """The lookups that have a value (neither None nor ""), to pass to filter() or Q()."""
    return {lookup: value for lookup, value in lookups.items() if value is not None and value != ""}


def audit_list(
    *,
    app: App | None = None,
    actor: str = "",
    action: str = "",
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.filter(
        **given_lookups(
            app=app, actor_label__icontains=actor, action__startswith=action, at__gte=date_from, at__lt=date_to
        )
    )
    return qs.order_by("-at", "-id")
