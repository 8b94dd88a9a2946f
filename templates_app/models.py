"""Message templates. Every save is a new immutable version; sends point at a version."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.models import App

template_name_validator = RegexValidator(
    r"^[A-Za-z0-9_]{1,200}$", _("Use 1 to 200 letters, digits or underscores."), code="invalid_name"
)


class DisplayType(models.TextChoices):
    NOTIFICATION = "notification", _("Notification bar")
    SILENT = "silent", _("Silent (pass-through)")


class DisplayStyle(models.TextChoices):
    DEFAULT = "default", _("Default (short text)")
    BIG_TEXT = "big_text", _("Big text")
    RICH = "rich", _("Rich text with icon and image")


class ClickAction(models.TextChoices):
    OPEN_APP = "open_app", _("Open app / activity")
    OPEN_URL = "open_url", _("Open web URL")


class TemplateQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class Template(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(_("name"), max_length=200, validators=[template_name_validator])
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    current_version = models.ForeignKey(
        "TemplateVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Deleted templates keep their versions: sends show the exact text they used.
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = TemplateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["app", "name"], condition=models.Q(deleted_at__isnull=True), name="template_name_unique_live"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    description = models.CharField(_("description"), max_length=200)
    display_type = models.CharField(
        _("display type"), max_length=12, choices=DisplayType.choices, default=DisplayType.NOTIFICATION
    )
    display_style = models.CharField(
        _("display style"), max_length=10, choices=DisplayStyle.choices, default=DisplayStyle.DEFAULT
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), max_length=2000)
    icon = models.FileField(_("icon"), upload_to="templates/icons/%Y/%m/", blank=True)
    icon_url = models.URLField(_("icon URL"), max_length=500, blank=True)
    image = models.FileField(_("large image"), upload_to="templates/images/%Y/%m/", blank=True)
    image_url = models.URLField(_("large image URL"), max_length=500, blank=True)
    # Which vendor's icon rules the uploaded icon was checked against.
    image_profile = models.CharField(_("image rules"), max_length=10, default="default")
    click_action = models.CharField(
        _("action upon click"), max_length=10, choices=ClickAction.choices, default=ClickAction.OPEN_APP
    )
    url = models.CharField(_("URL"), max_length=1000, blank=True)
    activity = models.CharField(_("activity"), max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="template_version_unique")]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"

    def diff_text(self) -> str:
        """The version as plain lines, for the history diff."""
        lines = [
            f"description: {self.description}",
            f"display type: {self.get_display_type_display()}",
            f"display style: {self.get_display_style_display()}",
            f"title: {self.title}",
            "body:",
            *self.body.splitlines(),
            f"click action: {self.get_click_action_display()}",
            f"url: {self.url}",
            f"activity: {self.activity}",
            f"icon: {self.icon.name or self.icon_url}",
            f"large image: {self.image.name or self.image_url}",
        ]
        return "\n".join(lines)
