from __future__ import annotations

import re
import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.utils.translation import gettext_lazy as _

from .models import App, Role
from .widgets import IsoDateField

User = get_user_model()

_PACKAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_BUNDLE_RE = re.compile(r"^[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")


def timezone_choices() -> list[tuple[str, str]]:
    return [(tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz or tz == "UTC"]


class AppForm(forms.ModelForm):
    class Meta:
        model = App
        fields = ["name", "android_package", "ios_bundle_id"]
        # Given here so that "iOS" keeps its small i (a model's verbose name is capitalised).
        labels = {"ios_bundle_id": _("iOS bundle id")}

    def clean_android_package(self) -> str:
        value = self.cleaned_data["android_package"].strip()
        if value and not _PACKAGE_RE.match(value):
            raise forms.ValidationError(_("Enter a package name such as com.example.app."))
        return value

    def clean_ios_bundle_id(self) -> str:
        value = self.cleaned_data["ios_bundle_id"].strip()
        if value and not _BUNDLE_RE.match(value):
            raise forms.ValidationError(_("Enter a bundle id such as com.example.app."))
        return value


class MemberForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(_("No active user has this username. Create the user first."))
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class UserCreateForm(forms.Form):
    username = forms.RegexField(
        label=_("Username"),
        max_length=150,
        regex=r"^[\w.@+-]+$",
        error_messages={"invalid": _("Use letters, digits and @ . + - _ only.")},
    )
    email = forms.EmailField(label=_("E-mail"), required=False)
    password = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    is_superuser = forms.BooleanField(label=_("Superuser"), required=False)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is taken."))
        return username

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("username"):
            password_validation.validate_password(cleaned["password"], User(username=cleaned["username"]))
        return cleaned


class UserEditForm(forms.Form):
    is_active = forms.BooleanField(label=_("Active"), required=False)
    is_superuser = forms.BooleanField(label=_("Superuser"), required=False)


class ProfileForm(forms.Form):
    timezone = forms.ChoiceField(label=_("Time zone"), choices=timezone_choices)
    language = forms.ChoiceField(
        label=_("Language"), choices=[("", _("Browser's language"))] + list(settings.LANGUAGES), required=False
    )


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    action = forms.CharField(label=_("Action"), required=False, max_length=64)
    date_from = IsoDateField(label=_("From"), required=False)
    date_to = IsoDateField(label=_("To"), required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        return cleaned
