"""Writes of push configuration and key management. Each audits with fingerprints, never secrets."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .. import crypto
from ..audit import audit_record
from ..models import (
    ApnsCertificate,
    ApnsTokenKey,
    App,
    ChannelPackage,
    CredentialAlert,
    FcmCredential,
    KeyConfig,
    Membership,
    Role,
    VendorChannel,
    language_of,
)
from ..services import receipt_keypair_generate
from .parsing import CredentialError, ParsedCertificate, ParsedPublicKey, ParsedServiceAccount

logger = logging.getLogger(__name__)

# Days before expiry at which the daily job records a warning, tightest last.
WARNING_THRESHOLDS = (30, 15, 7, 1, 0)


def _lock_app(app: App) -> None:
    # Serialises concurrent uploads for one app (the partial unique index would refuse the loser).
    App.objects.select_for_update().filter(pk=app.pk).first()


@transaction.atomic
def apns_certificate_upload(
    *,
    app: App,
    parsed: ParsedCertificate,
    data: bytes,
    password: str,
    actor,
    request: HttpRequest | None = None,
    bundle_override: bool = False,
) -> ApnsCertificate:
    """Store a parsed .p12 as the app's active certificate; the previous one stays in the history."""
    _lock_app(app)
    previous = ApnsCertificate.objects.filter(app=app, is_active=True).first()
    if previous is not None:
        previous.is_active = False
        previous.save(update_fields=["is_active"])
    cert = ApnsCertificate.objects.create(
        app=app,
        p12=data,
        password=password,
        environment=parsed.environment,
        topic=parsed.topic,
        topics=parsed.topics,
        subject=parsed.subject,
        issuer=parsed.issuer,
        serial=parsed.serial,
        not_before=parsed.not_before,
        not_after=parsed.not_after,
        fingerprint=parsed.fingerprint,
        is_active=True,
        uploaded_by=actor,
    )
    audit_record(
        action="credentials.apns_certificate_upload",
        actor=actor,
        app=app,
        target=parsed.topic,
        request=request,
        summary={
            "before": previous.fingerprint if previous else None,
            "after": parsed.fingerprint,
            "environment": parsed.environment,
            "serial": parsed.serial,
            "not_after": parsed.not_after.isoformat(),
            "bundle_override": bundle_override,
        },
    )
    return cert


@transaction.atomic
def apns_token_key_save(
    *,
    app: App,
    key_pem: str,
    key_id: str,
    team_id: str,
    topic: str,
    environment: str,
    actor,
    request: HttpRequest | None = None,
) -> ApnsTokenKey:
    """Save the APNs token key; an empty `key_pem` keeps the stored key with new ids."""
    _lock_app(app)
    previous = ApnsTokenKey.objects.filter(app=app, is_active=True).first()
    if not key_pem:
        if previous is None:
            raise CredentialError("missing", _("Upload the .p8 key file."))
        key_pem = previous.key_pem
    if previous is not None:
        previous.is_active = False
        previous.save(update_fields=["is_active"])
    key = ApnsTokenKey.objects.create(
        app=app,
        key_pem=key_pem,
        key_id=key_id,
        team_id=team_id,
        topic=topic,
        environment=environment,
        fingerprint=crypto.fingerprint(key_pem),
        is_active=True,
        uploaded_by=actor,
    )
    audit_record(
        action="credentials.apns_token_save",
        actor=actor,
        app=app,
        target=f"{key_id}/{team_id}",
        request=request,
        summary={
            "before": previous.fingerprint if previous else None,
            "after": key.fingerprint,
            "key_id": key_id,
            "team_id": team_id,
            "topic": topic,
            "environment": environment,
        },
    )
    return key


@transaction.atomic
def apns_auth_set(*, app: App, auth: str, actor, request: HttpRequest | None = None) -> App:
    """Choose which APNs credential sends: the certificate or the token key."""
    before = app.apns_auth
    app.apns_auth = auth
    app.save(update_fields=["apns_auth"])
    audit_record(
        action="credentials.apns_auth",
        actor=actor,
        app=app,
        target=app.app_key,
        request=request,
        summary={"before": before, "after": auth},
    )
    return app


@transaction.atomic
def sms_fallback_set(
    *, app: App, enabled: bool, delay: int, on: str, provider: str, actor, request: HttpRequest | None = None
) -> App:
    """Switch the SMS fallback and set its delay (seconds), condition and provider."""
    app = App.objects.select_for_update().get(pk=app.pk)
    fields = ("sms_fallback_enabled", "sms_fallback_delay", "sms_fallback_on", "sms_fallback_provider")
    before = {f: getattr(app, f) for f in fields}
    app.sms_fallback_enabled, app.sms_fallback_delay, app.sms_fallback_on, app.sms_fallback_provider = (
        enabled,
        delay,
        on,
        provider,
    )
    app.save(update_fields=list(fields))
    audit_record(
        action="credentials.sms_fallback",
        actor=actor,
        app=app,
        target=app.app_key,
        request=request,
        summary={"before": before, "after": {f: getattr(app, f) for f in fields}},
    )
    return app


@transaction.atomic
def fcm_credential_save(
    *,
    app: App,
    enabled: bool,
    service_account: ParsedServiceAccount | None,
    actor,
    request: HttpRequest | None = None,
) -> FcmCredential:
    """Switch FCM and, when given, replace its service account."""
    fcm, _created = FcmCredential.objects.select_for_update().get_or_create(app=app)
    before = {"enabled": fcm.enabled, "fingerprint": fcm.fingerprint or None}
    if service_account is not None:
        fcm.service_account = service_account.text
        fcm.project_id = service_account.project_id
        fcm.client_email = service_account.client_email
        fcm.private_key_id = service_account.private_key_id
        fcm.fingerprint = crypto.fingerprint(service_account.text)
        fcm.last_error = ""
        fcm.last_error_at = None
    if enabled and not fcm.service_account:
        raise CredentialError("missing", _("Upload a service-account JSON before switching FCM on."))
    fcm.enabled = enabled
    fcm.updated_at = timezone.now()
    fcm.save()
    audit_record(
        action="credentials.fcm_save",
        actor=actor,
        app=app,
        target=fcm.project_id,
        request=request,
        summary={"before": before, "after": {"enabled": enabled, "fingerprint": fcm.fingerprint or None}},
    )
    return fcm


def _secrets_of(channel: VendorChannel) -> dict[str, str]:
    return json.loads(channel.secrets) if channel.secrets else {}


def vendor_secrets(channel: VendorChannel) -> dict[str, str]:
    """The decrypted secret fields of a vendor channel, for the gateways."""
    return _secrets_of(channel)


@transaction.atomic
def vendor_channel_save(
    *,
    app: App,
    package: ChannelPackage,
    vendor: str,
    enabled: bool,
    vendor_app_id: str,
    vendor_app_key: str,
    new_secrets: dict[str, str],
    required_secrets: tuple[str, ...],
    actor,
    request: HttpRequest | None = None,
) -> VendorChannel:
    """Save one vendor's keys for one package; empty secret fields keep the stored values."""
    channel = VendorChannel.objects.select_for_update().filter(package=package, vendor=vendor).first()
    created = channel is None
    if channel is None:
        channel = VendorChannel(app=app, package=package, vendor=vendor)
    stored = _secrets_of(channel)
    before = {"enabled": channel.enabled, "fingerprint": channel.fingerprint or None}
    merged = {**stored, **{k: v for k, v in new_secrets.items() if v}}
    missing = [name for name in required_secrets if not merged.get(name)]
    if missing:
        raise CredentialError("missing", _("Enter the secret fields: %(names)s.") % {"names": ", ".join(missing)})
    channel.enabled = enabled
    channel.vendor_app_id = vendor_app_id
    channel.vendor_app_key = vendor_app_key
    channel.secrets = json.dumps(merged, sort_keys=True)
    channel.fingerprint = crypto.fingerprint(channel.secrets)
    channel.updated_at = timezone.now()
    if merged != stored:
        channel.last_error = ""
        channel.last_error_at = None
    channel.save()
    audit_record(
        action="credentials.vendor_save",
        actor=actor,
        app=app,
        target=f"{package.package_name}/{vendor}",
        request=request,
        summary={
            "created": created,
            "before": before,
            "after": {"enabled": enabled, "fingerprint": channel.fingerprint},
            "vendor_app_id": vendor_app_id,
            "vendor_app_key": vendor_app_key,
            "secrets_changed": sorted(k for k, v in new_secrets.items() if v),
        },
    )
    return channel


@transaction.atomic
def channel_package_create(*, app: App, package_name: str, actor, request: HttpRequest | None = None) -> ChannelPackage:
    """Add an extra Android channel package to a multi-package app."""
    is_main = not ChannelPackage.objects.filter(app=app).exists()
    package = ChannelPackage.objects.create(app=app, package_name=package_name, is_main=is_main)
    audit_record(
        action="credentials.package_create",
        actor=actor,
        app=app,
        target=package_name,
        request=request,
        summary={"after": {"package_name": package_name, "main": is_main}},
    )
    return package


def channel_package_delete(*, package: ChannelPackage, actor, request: HttpRequest | None = None) -> None:
    """Delete a channel package; refused while vendor keys reference it, or for the main package."""
    if package.is_main:
        raise CredentialError(
            "main", _("The main package is the app's Android package name; change it in the app settings.")
        )
    count = package.vendor_channels.count()
    if count:
        raise CredentialError(
            "protected",
            _("Package %(name)s still has vendor keys (%(count)d). Delete them first.")
            % {"name": package.package_name, "count": count},
        )
    try:
        with transaction.atomic():
            app, name = package.app, package.package_name
            package.delete()
            audit_record(
                action="credentials.package_delete",
                actor=actor,
                app=app,
                target=name,
                request=request,
                summary={"before": {"package_name": name}, "after": None},
            )
    except ProtectedError as exc:
        # Keys were added between the check and the delete.
        raise CredentialError(
            "protected",
            _("Package %(name)s still has vendor keys. Delete them first.") % {"name": package.package_name},
        ) from exc


@transaction.atomic
def vendor_channel_delete(*, channel: VendorChannel, actor, request: HttpRequest | None = None) -> None:
    """Remove one vendor's keys from a package."""
    app, target, fp = channel.app, f"{channel.package.package_name}/{channel.vendor}", channel.fingerprint
    channel.delete()
    audit_record(
        action="credentials.vendor_delete",
        actor=actor,
        app=app,
        target=target,
        request=request,
        summary={"before": fp, "after": None},
    )


@transaction.atomic
def api_settings_save(
    *,
    app: App,
    enabled: bool,
    public_key: ParsedPublicKey | None,
    ip_allowlist: str,
    rate_limit: int | None,
    actor,
    request: HttpRequest | None = None,
) -> KeyConfig:
    """The Push API switch (off: every server API call answers 3032), the customer's public key,
    the source addresses allowed to call and the app's own calls-per-minute limit (None: the default)."""
    from ..security.api import allowlist_entries, own_limit
    from ..security.models import ApiRateLimit

    config, _created = KeyConfig.objects.select_for_update().get_or_create(app=app)
    before = {
        "enabled": config.api_enabled,
        "fingerprint": config.customer_key_fingerprint or None,
        "ip_allowlist": config.ip_allowlist,
        "rate_limit": own_limit(app),
    }
    if public_key is not None:
        config.customer_public_key = public_key.pem
        config.customer_key_fingerprint = public_key.fingerprint
    if enabled and not config.customer_public_key:
        raise CredentialError("missing", _("Paste the RSA public key before switching the Push API on."))
    config.api_enabled = enabled
    config.ip_allowlist = "\n".join(allowlist_entries(ip_allowlist))
    config.updated_at = timezone.now()
    config.save()
    if rate_limit is None:
        ApiRateLimit.objects.filter(app=app).delete()
    else:
        ApiRateLimit.objects.update_or_create(app=app, defaults={"per_minute": rate_limit})
    audit_record(
        action="keys.api_save",
        actor=actor,
        app=app,
        target=app.app_key,
        request=request,
        summary={
            "before": before,
            "after": {
                "enabled": enabled,
                "fingerprint": config.customer_key_fingerprint,
                "ip_allowlist": config.ip_allowlist,
                "rate_limit": rate_limit,
            },
        },
    )
    return config


@transaction.atomic
def callback_settings_save(
    *, app: App, enabled: bool, url: str, actor, request: HttpRequest | None = None
) -> KeyConfig:
    """The receipt callback switch and URL."""
    config, _created = KeyConfig.objects.select_for_update().get_or_create(app=app)
    before = {"enabled": config.callback_enabled, "url": config.callback_url}
    config.callback_enabled = enabled
    config.callback_url = url
    config.updated_at = timezone.now()
    config.save()
    audit_record(
        action="keys.callback_save",
        actor=actor,
        app=app,
        target=app.app_key,
        request=request,
        summary={"before": before, "after": {"enabled": enabled, "url": url}},
    )
    return config


def receipt_keypair_regenerate(*, app: App, actor, request: HttpRequest | None = None) -> KeyConfig:
    """A new receipt-signing pair, replacing the old one at once (audited by the generator)."""
    return receipt_keypair_generate(app=app, actor=actor, request=request)


def _sending_apns_credential(app: App) -> ApnsCertificate | ApnsTokenKey | None:
    token = ApnsTokenKey.objects.filter(app=app, is_active=True).first()
    cert = ApnsCertificate.objects.filter(app=app, is_active=True).first()
    if app.apns_auth == "token" and token is not None:
        return token
    return cert or token


def ios_send_block_reason(app: App, now: datetime | None = None) -> str | None:
    """Why iOS sends of this app are blocked right now (an expired certificate), or None."""
    now = now or timezone.now()
    credential = _sending_apns_credential(app)
    if isinstance(credential, ApnsCertificate) and credential.is_expired(now):
        return _(
            "The APNs certificate for %(topic)s expired on %(date)s; iOS sends are blocked until a new one is uploaded."
        ) % {
            "topic": credential.topic,
            "date": timezone.localtime(credential.not_after).strftime("%Y-%m-%d %H:%M UTC%z"),
        }
    return None


def _threshold_for(cert: ApnsCertificate, now: datetime) -> int | None:
    remaining = cert.not_after - now
    if remaining <= timedelta(0):
        return 0
    crossed = [t for t in WARNING_THRESHOLDS if t > 0 and remaining <= timedelta(days=t)]
    return min(crossed) if crossed else None


def certificate_expiry_warn(*, certificate: ApnsCertificate, now: datetime | None = None) -> CredentialAlert | None:
    """Record (once per threshold), audit and e-mail an expiry warning for one certificate."""
    now = now or timezone.now()
    threshold = _threshold_for(certificate, now)
    if threshold is None:
        return None
    app = certificate.app
    try:
        with transaction.atomic():
            if CredentialAlert.objects.filter(certificate=certificate, threshold_days=threshold).exists():
                return None
            alert = CredentialAlert.objects.create(
                app=app, certificate=certificate, threshold_days=threshold, created_at=now
            )
            audit_record(
                action="credentials.expiry_warning",
                actor_label="system",
                app=app,
                target=certificate.topic,
                summary={
                    "threshold_days": threshold,
                    "fingerprint": certificate.fingerprint,
                    "not_after": certificate.not_after.isoformat(),
                },
            )
            transaction.on_commit(lambda: _mail_expiry(alert_id=alert.pk))
    except IntegrityError:
        # Another run recorded it first.
        return None
    return alert


def _expiry_mail_text(alert: CredentialAlert) -> tuple[str, str]:
    """Subject and body of a certificate expiry warning, in the active language."""
    cert, app = alert.certificate, alert.app
    date = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
    if alert.threshold_days == 0:
        subject = _("[Pushdeck] %(app)s: APNs certificate for %(topic)s has expired") % {
            "app": app.name,
            "topic": cert.topic,
        }
        body = _(
            "The APNs certificate for %(topic)s (%(env)s, serial %(serial)s) of app %(app)s expired on %(date)s. "
            "iOS sends are blocked until you upload a new certificate under Push configuration."
        )
    else:
        subject = _("[Pushdeck] %(app)s: APNs certificate for %(topic)s expires within %(days)d days") % {
            "app": app.name,
            "topic": cert.topic,
            "days": alert.threshold_days,
        }
        body = _(
            "The APNs certificate for %(topic)s (%(env)s, serial %(serial)s) of app %(app)s expires on %(date)s. "
            "Upload a new certificate under Push configuration before then."
        )
    body = body % {
        "topic": cert.topic,
        "env": cert.get_environment_display(),
        "serial": cert.serial,
        "app": app.name,
        "date": date,
    }
    return subject, body


def _mail_expiry(*, alert_id: int) -> None:
    alert = CredentialAlert.objects.select_related("certificate", "app").get(pk=alert_id)
    app = alert.app
    # Each admin reads the warning in the language saved in their profile (else the default).
    by_language: dict[str, set[str]] = {}
    for m in Membership.objects.filter(app=app, role=Role.CHANNEL_ADMIN).select_related("user__profile"):
        if m.user.email and m.user.is_active:
            by_language.setdefault(language_of(m.user), set()).add(m.user.email)
    if not by_language:
        return
    for language, emails in sorted(by_language.items()):
        with translation.override(language):
            subject, body = _expiry_mail_text(alert)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, sorted(emails))
    recipients = [e for emails in by_language.values() for e in emails]
    logger.info(
        "expiry warning %s days for app %s mailed to %d admins", alert.threshold_days, app.app_key, len(recipients)
    )


def certificates_expiry_warn(*, now: datetime | None = None) -> list[CredentialAlert]:
    """The daily job: a warning for every active certificate that crossed a threshold."""
    now = now or timezone.now()
    horizon = now + timedelta(days=max(WARNING_THRESHOLDS))
    alerts = []
    for cert in ApnsCertificate.objects.filter(is_active=True, not_after__lte=horizon).select_related("app"):
        alert = certificate_expiry_warn(certificate=cert, now=now)
        if alert is not None:
            alerts.append(alert)
    return alerts


def send_block_reason(app: App, platform: str, now: datetime | None = None) -> str | None:
    """Why sends of this app to `platform` ("ios" / "android") are blocked; only iOS has such a rule."""
    if platform == "ios":
        return ios_send_block_reason(app, now=now)
    return None
