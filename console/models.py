"""Apps, people, credentials, keys and the audit log."""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import EncryptedBinaryField, EncryptedTextField

_ALNUM = string.ascii_letters + string.digits


def new_app_key() -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(24))


def new_app_secret() -> str:
    return secrets.token_hex(32)


# EMAS Mobile Push names an app by a number (its SDKs send `AppKey` as a Long).
EMAS_APP_KEY_MIN, EMAS_APP_KEY_MAX = 100_000_000, 999_999_999


def new_emas_app_key() -> int:
    return EMAS_APP_KEY_MIN + secrets.randbelow(EMAS_APP_KEY_MAX - EMAS_APP_KEY_MIN + 1)


class Role(models.TextChoices):
    MARKETER = "marketer", _("Marketer")
    CHANNEL_ADMIN = "channel_admin", _("Channel admin")
    AUDITOR = "auditor", _("Auditor")


class Perm(models.TextChoices):
    """What a role may do in an app. Checked on the server for every view and API call."""

    VIEW = "view", _("View the app")
    SEND = "send", _("Send and stop pushes")
    EDIT_TEMPLATES = "edit_templates", _("Edit templates")
    CONFIGURE = "configure", _("Change configuration and credentials")
    MANAGE_MEMBERS = "manage_members", _("Manage members")
    AUDIT = "audit", _("Read and export the audit log")
    EXPORT = "export", _("Export history")


ROLE_PERMS: dict[str, frozenset[str]] = {
    Role.MARKETER: frozenset({Perm.VIEW, Perm.SEND, Perm.EDIT_TEMPLATES}),
    Role.CHANNEL_ADMIN: frozenset(
        {Perm.VIEW, Perm.SEND, Perm.EDIT_TEMPLATES, Perm.CONFIGURE, Perm.MANAGE_MEMBERS, Perm.AUDIT, Perm.EXPORT}
    ),
    Role.AUDITOR: frozenset({Perm.VIEW, Perm.AUDIT, Perm.EXPORT}),
}


class UserProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    language = models.CharField(_("language"), max_length=10, blank=True)

    def __str__(self) -> str:
        return f"profile of {self.user}"


def language_of(user) -> str:
    """The language a user reads mail and work done for them in: their profile's, else the default."""
    profile = getattr(user, "profile", None) if user is not None else None
    return (profile.language if profile is not None else "") or settings.LANGUAGE_CODE


class App(models.Model):
    name = models.CharField(_("name"), max_length=100)
    app_key = models.CharField(_("AppKey"), max_length=32, unique=True, default=new_app_key, editable=False)
    app_secret = EncryptedTextField(_("AppSecret"), default=new_app_secret, editable=False)
    # The numeric AppKey the Alibaba Cloud Push (EMAS) SDKs name the app by; `app_key` stays as it is.
    emas_app_key = models.BigIntegerField(_("EMAS AppKey"), unique=True, default=new_emas_app_key, editable=False)
    app_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    android_package = models.CharField(_("Android package name"), max_length=255, blank=True)
    ios_bundle_id = models.CharField(_("iOS bundle id"), max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Demo apps deliver through the sandbox gateway instead of real services.
    sandbox = models.BooleanField(_("sandbox delivery"), default=False)
    # Sends above this many targets (or any broadcast) wait for a second person's approval.
    approval_threshold = models.PositiveIntegerField(_("approval threshold"), default=10_000)
    approval_for_broadcast = models.BooleanField(_("broadcasts need approval"), default=True)
    sms_fallback_enabled = models.BooleanField(_("SMS fallback"), default=False)
    sms_fallback_delay = models.PositiveIntegerField(_("SMS fallback delay (seconds)"), default=3600)
    sms_fallback_on = models.CharField(
        max_length=10, choices=[("arrive", _("not arrived")), ("click", _("not clicked"))], default="arrive"
    )
    # Blank: the server's SMS_PROVIDER setting decides.
    sms_fallback_provider = models.CharField(
        _("SMS provider"),
        max_length=12,
        blank=True,
        default="",
        choices=[("", _("Server default")), ("sandbox", _("Sandbox (sends nothing)")), ("http", _("HTTP SMS API"))],
    )
    # "certificate" or "token": which APNs credential sends when both exist.
    apns_auth = models.CharField(
        max_length=12, choices=[("certificate", _("Certificate")), ("token", _("Token (.p8)"))], default="certificate"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "app"], name="membership_unique_user_app")]

    def __str__(self) -> str:
        return f"{self.user} in {self.app} as {self.role}"

    def has(self, perm: str) -> bool:
        return perm in ROLE_PERMS.get(self.role, frozenset())


class ChannelPackage(models.Model):
    """An Android channel package of a multi-package app; vendor keys hang off it."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="packages")
    package_name = models.CharField(_("package name"), max_length=255)
    is_main = models.BooleanField(_("main package"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_main", "package_name"]
        constraints = [models.UniqueConstraint(fields=["app", "package_name"], name="package_unique_per_app")]

    def __str__(self) -> str:
        return self.package_name


class ApnsEnvironment(models.TextChoices):
    DEVELOPMENT = "development", _("Development (sandbox)")
    PRODUCTION = "production", _("Production")
    BOTH = "both", _("Development and production")


class ApnsCertificate(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="apns_certificates")
    p12 = EncryptedBinaryField()
    password = EncryptedTextField(blank=True)
    environment = models.CharField(max_length=12, choices=ApnsEnvironment.choices)
    topic = models.CharField(_("bundle id / topic"), max_length=255)
    topics = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=500)
    issuer = models.CharField(max_length=500)
    serial = models.CharField(max_length=80)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    fingerprint = models.CharField(max_length=100)
    is_active = models.BooleanField(default=False)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_error = models.CharField(max_length=200, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["app"], condition=models.Q(is_active=True), name="one_active_apns_certificate"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} ({self.environment})"

    def days_left(self, now: datetime | None = None) -> int:
        now = now or timezone.now()
        return (self.not_after - now) // timedelta(days=1)

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.not_after


class ApnsTokenKey(models.Model):
    """APNs token auth: an ES256 .p8 key; it never expires."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="apns_token_keys")
    key_pem = EncryptedTextField()
    key_id = models.CharField(_("key id"), max_length=10)
    team_id = models.CharField(_("team id"), max_length=10)
    topic = models.CharField(_("topic"), max_length=255)
    environment = models.CharField(
        max_length=12, choices=ApnsEnvironment.choices[:2], default=ApnsEnvironment.PRODUCTION
    )
    fingerprint = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    uploaded_at = models.DateTimeField(default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_error = models.CharField(max_length=200, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(fields=["app"], condition=models.Q(is_active=True), name="one_active_apns_token")
        ]


class FcmCredential(models.Model):
    app = models.OneToOneField(App, on_delete=models.CASCADE, related_name="fcm")
    enabled = models.BooleanField(_("status"), default=False)
    service_account = EncryptedTextField(blank=True)
    project_id = models.CharField(max_length=200, blank=True)
    client_email = models.CharField(max_length=320, blank=True)
    private_key_id = models.CharField(max_length=100, blank=True)
    fingerprint = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=200, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)


class Vendor(models.TextChoices):
    HUAWEI = "huawei", _("Huawei")
    XIAOMI = "xiaomi", _("Xiaomi")
    OPPO = "oppo", _("OPPO")
    VIVO = "vivo", _("vivo")
    HONOR = "honor", _("Honor")
    MEIZU = "meizu", _("Meizu")


class VendorChannel(models.Model):
    """One vendor's keys for one channel package. Public ids in clear, secrets encrypted."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="vendor_channels")
    # PROTECT: a package cannot be deleted while vendor keys still reference it.
    package = models.ForeignKey(ChannelPackage, on_delete=models.PROTECT, related_name="vendor_channels")
    vendor = models.CharField(max_length=10, choices=Vendor.choices)
    enabled = models.BooleanField(_("status"), default=False)
    vendor_app_id = models.CharField(_("App ID"), max_length=200, blank=True)
    vendor_app_key = models.CharField(_("AppKey"), max_length=200, blank=True)
    # JSON object of the secret fields (App secret, MasterSecret, ...), encrypted.
    secrets = EncryptedTextField(blank=True)
    fingerprint = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=200, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["vendor"]
        constraints = [models.UniqueConstraint(fields=["package", "vendor"], name="vendor_unique_per_package")]


class KeyConfig(models.Model):
    """Key management: the server API switch and key, the receipt callback and its signing pair."""

    app = models.OneToOneField(App, on_delete=models.CASCADE, related_name="keys")
    api_enabled = models.BooleanField(_("Push API"), default=False)
    customer_public_key = models.TextField(_("RSA public key"), blank=True)
    customer_key_fingerprint = models.CharField(max_length=100, blank=True)
    ip_allowlist = models.TextField(_("allowed source addresses"), blank=True)
    callback_enabled = models.BooleanField(_("callback"), default=False)
    callback_url = models.URLField(_("callback URL"), max_length=500, blank=True)
    console_private_key = EncryptedTextField(blank=True)
    console_public_key = models.TextField(blank=True)
    console_key_created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)


class ApiNonce(models.Model):
    """Nonces seen by the signed APIs, kept past the clock-skew window to refuse replays."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=128)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "nonce"], name="nonce_unique_per_app")]


class CredentialAlert(models.Model):
    """One expiry warning per credential and threshold (30, 15, 7, 1, 0 days)."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="credential_alerts")
    certificate = models.ForeignKey(ApnsCertificate, on_delete=models.CASCADE, related_name="alerts")
    threshold_days = models.SmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["certificate", "threshold_days"], name="alert_once_per_threshold")
        ]


class AuditEntry(models.Model):
    """Append-only: who did what, when, in which app, from where. Never holds a secret.

    The foreign keys carry no database constraint so that deleting a user or an
    app never touches an entry; on PostgreSQL a trigger refuses UPDATE and DELETE.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=200)
    app = models.ForeignKey(
        App, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    app_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["app", "-at"], name="audit_app_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise PermissionError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries cannot be deleted.")
