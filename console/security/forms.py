from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import TwoFactorPolicy


class TwoFactorPolicyForm(forms.ModelForm):
    class Meta:
        model = TwoFactorPolicy
        fields = ["require_superusers", "require_channel_admins", "require_marketers", "require_auditors"]


class TotpCodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code from your authenticator app"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("Enter the 6-digit code.")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip()
