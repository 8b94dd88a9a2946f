"""Forms of the delivery area."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from console.models import Vendor

APNS_TOKEN_RE = re.compile(r"^[0-9a-fA-F]{64,200}$")
PACKAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")


class TestPushForm(forms.Form):
    __test__ = False  # not a pytest test class

    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[("apns", _("APNs")), ("fcm", _("FCM")), *Vendor.choices],
    )
    token = forms.CharField(
        label=_("Device token"),
        max_length=512,
        help_text=_("The token the device got from this channel (APNs: 64 hexadecimal characters)."),
    )
    package_name = forms.CharField(
        label=_("Package name"),
        max_length=255,
        required=False,
        help_text=_("Android only; empty: the main package."),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip()
        if any(ch.isspace() for ch in token) or not token.isprintable():
            raise forms.ValidationError(_("A token has no spaces or line breaks."))
        return token

    def clean_package_name(self) -> str:
        package = self.cleaned_data["package_name"].strip()
        if package and not PACKAGE_RE.match(package):
            raise forms.ValidationError(_("Enter a package name like com.example.app."))
        return package

    def clean(self) -> dict:
        data = super().clean()
        token = data.get("token")
        if data.get("channel") == "apns" and token and not APNS_TOKEN_RE.match(token):
            self.add_error("token", _("An APNs device token is 64 or more hexadecimal characters."))
        if data.get("channel") == "apns" and data.get("package_name"):
            self.add_error("package_name", _("APNs sends to the app's bundle id: leave the package name empty."))
        return data
