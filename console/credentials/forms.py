"""Input validation of push configuration and key management, parsing included."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ..models import ApnsCertificate, ApnsEnvironment, ApnsTokenKey, App, ChannelPackage, Vendor
from ..security.api import validate_allowlist
from . import parsing
from .parsing import CredentialError

APPLE_ID_RE = re.compile(r"^[A-Z0-9]{10}$")
PACKAGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")


def _secret_widget() -> forms.PasswordInput:
    # Write-only: the stored value is never rendered back.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


def _read_upload(upload, limit: int) -> bytes:
    if upload.size is not None and upload.size > limit:
        raise CredentialError("too_large", _("The file is larger than %(kb)d KB.") % {"kb": limit // 1024})
    return upload.read(limit + 1)


class ApnsCertificateForm(forms.Form):
    certificate = forms.FileField(
        label=_("Certificate (.p12)"),
        help_text=_("The APNs certificate exported with its private key from Keychain Access."),
        widget=forms.ClearableFileInput(attrs={"accept": ".p12,.pfx,application/x-pkcs12"}),
    )
    password = forms.CharField(label=_("Password of the .p12"), required=False, strip=False, widget=_secret_widget())
    override_bundle_id = forms.BooleanField(
        label=_("Use this certificate even though its bundle id differs from the app's iOS bundle id"), required=False
    )

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self.parsed: parsing.ParsedCertificate | None = None
        self.data_bytes = b""

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("certificate")
        if upload is None:
            return cleaned
        try:
            self.data_bytes = _read_upload(upload, parsing.MAX_P12_BYTES)
            self.parsed = parsing.parse_p12(self.data_bytes, cleaned.get("password") or "")
        except CredentialError as exc:
            self.add_error("password" if exc.code == "password" else "certificate", exc.message)
            return cleaned
        bundle = self.app.ios_bundle_id
        if bundle and bundle not in self.parsed.topics and not cleaned.get("override_bundle_id"):
            self.add_error(
                "override_bundle_id",
                _(
                    "The certificate is for %(topic)s but the app's iOS bundle id is %(bundle)s. "
                    "Tick the box to use it anyway, or upload the certificate of %(bundle)s."
                )
                % {"topic": self.parsed.topic, "bundle": bundle},
            )
        return cleaned


class ApnsTokenKeyForm(forms.Form):
    key_file = forms.FileField(
        label=_("Token key (.p8)"),
        required=False,
        help_text=_("Leave empty to keep the stored key."),
        widget=forms.ClearableFileInput(attrs={"accept": ".p8"}),
    )
    key_id = forms.CharField(label=_("Key ID"), max_length=10, help_text=_("10 characters, e.g. ABC123DEFG."))
    team_id = forms.CharField(label=_("Team ID"), max_length=10, help_text=_("10 characters."))
    topic = forms.CharField(label=_("Topic (bundle id)"), max_length=255)
    environment = forms.ChoiceField(label=_("Environment"), choices=ApnsEnvironment.choices[:2])

    def __init__(self, *args, has_key: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_key = has_key
        self.key_pem = ""
        if not has_key:
            self.fields["key_file"].required = True
            self.fields["key_file"].help_text = ""

    def _clean_apple_id(self, name: str) -> str:
        value = self.cleaned_data[name].strip().upper()
        if not APPLE_ID_RE.match(value):
            raise forms.ValidationError(_("Enter exactly 10 letters or digits."))
        return value

    def clean_key_id(self) -> str:
        return self._clean_apple_id("key_id")

    def clean_team_id(self) -> str:
        return self._clean_apple_id("team_id")

    def clean_key_file(self):
        upload = self.cleaned_data.get("key_file")
        if upload:
            try:
                raw = _read_upload(upload, parsing.MAX_P8_BYTES)
                self.key_pem = parsing.parse_p8(raw.decode("utf-8", "replace"))
            except CredentialError as exc:
                raise forms.ValidationError(exc.message) from exc
        return upload


class ApnsAuthForm(forms.Form):
    apns_auth = forms.ChoiceField(
        label=_("APNs authentication used for sending"), choices=App._meta.get_field("apns_auth").choices
    )

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app

    def clean_apns_auth(self) -> str:
        value = self.cleaned_data["apns_auth"]
        if value == "token" and not ApnsTokenKey.objects.filter(app=self.app, is_active=True).exists():
            raise forms.ValidationError(_("Save a token key (.p8) before choosing token authentication."))
        if value == "certificate" and not ApnsCertificate.objects.filter(app=self.app, is_active=True).exists():
            raise forms.ValidationError(_("Upload a certificate (.p12) before choosing certificate authentication."))
        return value


class SmsFallbackForm(forms.Form):
    enabled = forms.BooleanField(label=_("SMS fallback on"), required=False)
    delay_minutes = forms.IntegerField(
        label=_("Send the SMS after (minutes)"),
        min_value=1,
        max_value=3 * 24 * 60,
        help_text=_("From 1 minute to 3 days after the push."),
    )
    on = forms.ChoiceField(
        label=_("Send it when the notification has"), choices=App._meta.get_field("sms_fallback_on").choices
    )
    provider = forms.ChoiceField(
        label=_("SMS provider"), choices=App._meta.get_field("sms_fallback_provider").choices, required=False
    )

    def clean_provider(self) -> str:
        value = self.cleaned_data["provider"]
        if (value or settings.SMS_PROVIDER) == "http" and not settings.SMS_HTTP_URL:
            raise forms.ValidationError(
                _("The HTTP SMS API is not set up on this server: set SMS_HTTP_URL (and its key and secret) first.")
            )
        return value


class FcmForm(forms.Form):
    enabled = forms.BooleanField(label=_("FCM on"), required=False)
    service_account = forms.FileField(
        label=_("Service-account JSON"),
        required=False,
        help_text=_(
            "From the Firebase console: Project settings, Service accounts. Leave empty to keep the stored one."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )

    def __init__(self, *args, has_account: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_account = has_account
        self.parsed: parsing.ParsedServiceAccount | None = None

    def clean_service_account(self):
        upload = self.cleaned_data.get("service_account")
        if upload:
            try:
                self.parsed = parsing.parse_service_account(_read_upload(upload, parsing.MAX_SERVICE_ACCOUNT_BYTES))
            except CredentialError as exc:
                raise forms.ValidationError(exc.message) from exc
        return upload

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("enabled") and not self.has_account and self.parsed is None and not self.errors:
            self.add_error("service_account", _("Upload a service-account JSON before switching FCM on."))
        return cleaned


# Per vendor: public fields (model field, label) and secret fields (key in VendorChannel.secrets, label).
VENDOR_FIELDS: dict[str, dict[str, list[tuple[str, str]]]] = {
    Vendor.HUAWEI: {"public": [("vendor_app_id", _("App ID"))], "secret": [("app_secret", _("App secret"))]},
    Vendor.XIAOMI: {"public": [], "secret": [("app_secret", _("App secret"))]},
    Vendor.OPPO: {"public": [("vendor_app_key", _("AppKey"))], "secret": [("master_secret", _("MasterSecret"))]},
    Vendor.VIVO: {
        # vivo calls its secret AppSecret (MasterSecret is OPPO's word); stored under the same key as before
        "public": [("vendor_app_id", _("App ID")), ("vendor_app_key", _("AppKey"))],
        "secret": [("master_secret", _("AppSecret"))],
    },
    Vendor.HONOR: {
        "public": [("vendor_app_id", _("App ID")), ("vendor_app_key", _("Client ID"))],
        "secret": [("client_secret", _("Client secret"))],
    },
    Vendor.MEIZU: {"public": [("vendor_app_id", _("App ID"))], "secret": [("app_secret", _("App secret"))]},
}


class VendorChannelForm(forms.Form):
    enabled = forms.BooleanField(label=_("Channel on"), required=False)

    def __init__(self, *args, vendor: str, stored_secrets: set[str] | frozenset[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.vendor = vendor
        spec = VENDOR_FIELDS[vendor]
        for name, label in spec["public"]:
            self.fields[name] = forms.CharField(label=label, max_length=200)
        for name, label in spec["secret"]:
            stored = name in stored_secrets
            self.fields[f"secret_{name}"] = forms.CharField(
                label=label,
                max_length=500,
                required=not stored,
                strip=True,
                widget=_secret_widget(),
                help_text=_("Stored. Leave empty to keep it.") if stored else "",
            )

    def public_values(self) -> dict[str, str]:
        return {
            "vendor_app_id": self.cleaned_data.get("vendor_app_id", ""),
            "vendor_app_key": self.cleaned_data.get("vendor_app_key", ""),
        }

    def secret_values(self) -> dict[str, str]:
        return {
            name: self.cleaned_data.get(f"secret_{name}", "") for name, _label in VENDOR_FIELDS[self.vendor]["secret"]
        }

    def required_secrets(self) -> tuple[str, ...]:
        return tuple(name for name, _label in VENDOR_FIELDS[self.vendor]["secret"])


class ChannelPackageForm(forms.Form):
    package_name = forms.CharField(label=_("Package name"), max_length=255, help_text=_("e.g. com.example.shop.huawei"))

    def __init__(self, *args, app: App, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app

    def clean_package_name(self) -> str:
        value = self.cleaned_data["package_name"].strip()
        if not PACKAGE_RE.match(value):
            raise forms.ValidationError(_("Enter an Android package name such as com.example.shop."))
        if ChannelPackage.objects.filter(app=self.app, package_name=value).exists():
            raise forms.ValidationError(_("This app already has the package %(name)s.") % {"name": value})
        return value


class ApiKeyForm(forms.Form):
    api_enabled = forms.BooleanField(label=_("Push API on"), required=False)
    public_key = forms.CharField(
        label=_("Your RSA public key (PEM)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=_("At least 2048 bits, -----BEGIN PUBLIC KEY-----. Leave empty to keep the stored key."),
    )

    ip_allowlist = forms.CharField(
        label=_("Allowed source addresses"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        validators=[validate_allowlist],
        help_text=_("One IP address or network (such as 203.0.113.0/24) per line. Empty: any address."),
    )
    rate_limit = forms.IntegerField(
        label=_("Calls per minute"),
        required=False,
        min_value=0,
        max_value=1_000_000,
    )

    def __init__(self, *args, has_key: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_key = has_key
        self.fields["rate_limit"].help_text = _(
            "For this app's server API calls; 0 means unlimited. Empty: the default of %(n)s."
        ) % {"n": settings.PUSHDECK_API_RATE_LIMIT_PER_MINUTE}
        self.parsed: parsing.ParsedPublicKey | None = None

    def clean_public_key(self) -> str:
        text = self.cleaned_data.get("public_key", "").strip()
        if text:
            try:
                self.parsed = parsing.parse_rsa_public_key(text)
            except CredentialError as exc:
                raise forms.ValidationError(exc.message) from exc
        return text

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("api_enabled") and not self.has_key and self.parsed is None and not self.errors:
            self.add_error("public_key", _("Paste the RSA public key before switching the Push API on."))
        return cleaned


class CallbackForm(forms.Form):
    callback_enabled = forms.BooleanField(label=_("Callback on"), required=False)
    callback_url = forms.CharField(
        label=_("Callback URL"), max_length=500, required=False, help_text=_("http:// or https://")
    )

    def clean_callback_url(self) -> str:
        url = self.cleaned_data.get("callback_url", "").strip()
        if url:
            try:
                url = parsing.check_callback_url(url)
            except CredentialError as exc:
                raise forms.ValidationError(exc.message) from exc
        return url

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("callback_enabled") and not cleaned.get("callback_url") and not self.errors:
            self.add_error("callback_url", _("Enter the callback URL before switching the callback on."))
        return cleaned


class ReceiptKeyRegenerateForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("I understand that receipts signed with the current key will no longer verify with it"),
        error_messages={"required": _("Tick the box to confirm the new key pair.")},
    )
