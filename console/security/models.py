"""Sign-in policy (two-factor per role) and the signed API's rate-limit windows."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.models import App, Membership, Role


class TwoFactorPolicy(models.Model):
    """One row: which people must sign in with a TOTP code as well as their password."""

    require_superusers = models.BooleanField(_("superusers"), default=False)
    require_channel_admins = models.BooleanField(_("channel admins"), default=False)
    require_marketers = models.BooleanField(_("marketers"), default=False)
    require_auditors = models.BooleanField(_("auditors"), default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return "two-factor policy"

    @classmethod
    def current(cls) -> TwoFactorPolicy:
        return cls.objects.order_by("pk").first() or cls()

    def required_roles(self) -> set[str]:
        flags = {
            Role.CHANNEL_ADMIN: self.require_channel_admins,
            Role.MARKETER: self.require_marketers,
            Role.AUDITOR: self.require_auditors,
        }
        return {str(role) for role, on in flags.items() if on}

    def requires(self, user) -> bool:
        """True when any of the user's roles (in any app) asks for a second factor."""
        if user.is_superuser and self.require_superusers:
            return True
        roles = self.required_roles()
        return bool(roles) and Membership.objects.filter(user=user, role__in=roles).exists()


class ApiRateLimit(models.Model):
    """An app's own limit for the signed APIs, instead of API_RATE_LIMIT_PER_MINUTE."""

    app = models.OneToOneField(App, on_delete=models.CASCADE, related_name="api_rate_limit")
    per_minute = models.PositiveIntegerField(_("requests per minute"), help_text=_("0 means unlimited."))

    def __str__(self) -> str:
        return f"{self.app} {self.per_minute}/min"


class ApiRateWindow(models.Model):
    """Requests counted per app and minute; old windows are purged daily."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    window = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "window"], name="api_rate_window_unique")]


class ApiRefusalWindow(models.Model):
    """Refusals before authentication, counted per app, answer and minute.

    The first refusal of a window is audited at once; the beat job turns each closed window
    into one `api.refused.summary` audit entry with the count, then deletes it. Unknown app
    keys share one bucket (app_key ""), so forged keys cannot multiply the windows.
    """

    app = models.ForeignKey(App, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    app_key = models.CharField(max_length=64, blank=True)
    window = models.DateTimeField()
    status = models.PositiveSmallIntegerField()
    code = models.IntegerField()
    reason = models.CharField(max_length=200, blank=True)
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app_key", "window", "status", "code"], name="api_refusal_window_unique")
        ]
