"""Push configuration and key management pages."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.delivery.forms import TestPushForm

from .. import crypto
from ..health import credential_health
from ..models import (
    ApnsCertificate,
    ApnsTokenKey,
    App,
    ChannelPackage,
    FcmCredential,
    KeyConfig,
    Perm,
    Vendor,
    VendorChannel,
)
from ..permissions import app_permission
from ..security.api import own_limit
from ..uploads import too_large, too_large_message, upload_limit
from . import services
from .forms import (
    VENDOR_FIELDS,
    ApiKeyForm,
    ApnsAuthForm,
    ApnsCertificateForm,
    ApnsTokenKeyForm,
    CallbackForm,
    ChannelPackageForm,
    FcmForm,
    ReceiptKeyRegenerateForm,
    SmsFallbackForm,
    VendorChannelForm,
)
from .masked import certificate_history, certificate_view, channel_view, fcm_view, token_view
from .parsing import CredentialError, pem_public_key_fingerprint

logger = logging.getLogger(__name__)


def _vendor_rows(app: App, bound: dict | None = None) -> list[dict]:
    """Per package, per vendor: public ids, masked secrets and a (possibly bound) form."""
    channels = {(c.package_id, c.vendor): c for c in VendorChannel.objects.filter(app=app)}
    bound = bound or {}
    packages = []
    for package in ChannelPackage.objects.filter(app=app):
        vendors = []
        for vendor, label in Vendor.choices:
            channel = channels.get((package.pk, vendor))
            stored = services.vendor_secrets(channel) if channel else {}
            form = bound.get((package.pk, vendor)) or VendorChannelForm(
                vendor=vendor,
                stored_secrets=set(stored),
                initial={
                    "enabled": channel.enabled if channel else False,
                    "vendor_app_id": channel.vendor_app_id if channel else "",
                    "vendor_app_key": channel.vendor_app_key if channel else "",
                },
                prefix=f"{package.pk}-{vendor}",
            )
            vendors.append(
                {
                    "code": vendor,
                    "label": label,
                    "channel": channel_view(channel),
                    "masked": [
                        (lbl, crypto.mask(stored.get(name, ""))) for name, lbl in VENDOR_FIELDS[vendor]["secret"]
                    ],
                    "form": form,
                }
            )
        packages.append({"package": package, "vendors": vendors, "in_use": any(v["channel"] for v in vendors)})
    return packages


def _push_config_page(request: HttpRequest, app: App, status: int = 200, **forms) -> HttpResponse:
    can_configure = Perm.CONFIGURE in request.app_perms
    token = ApnsTokenKey.objects.filter(app=app, is_active=True).first()
    fcm = FcmCredential.objects.filter(app=app).first()
    context = {
        "app": app,
        "health": credential_health(app=app),
        "can_configure": can_configure,
        # Masked view objects, never model instances: no template can reach a decrypted secret.
        "certificate": certificate_view(ApnsCertificate.objects.filter(app=app, is_active=True).first()),
        "token": token_view(token),
        "fcm": fcm_view(fcm),
        "sms_delay_minutes": (app.sms_fallback_delay + 59) // 60,
        "sms_server_provider": settings.SMS_PROVIDER,
    }
    if can_configure:
        context.update(
            {
                "history": certificate_history(ApnsCertificate.objects.filter(app=app)),
                "cert_form": forms.get("cert_form") or ApnsCertificateForm(app=app),
                "token_form": forms.get("token_form")
                or ApnsTokenKeyForm(
                    has_key=token is not None,
                    initial={
                        "key_id": token.key_id if token else "",
                        "team_id": token.team_id if token else "",
                        "topic": token.topic if token else app.ios_bundle_id,
                        "environment": token.environment if token else "production",
                    },
                ),
                "auth_form": forms.get("auth_form") or ApnsAuthForm(app=app, initial={"apns_auth": app.apns_auth}),
                "test_push_form": TestPushForm(),
                "fcm_form": forms.get("fcm_form")
                or FcmForm(
                    has_account=bool(fcm and fcm.service_account), initial={"enabled": fcm.enabled if fcm else False}
                ),
                "package_form": forms.get("package_form") or ChannelPackageForm(app=app),
                "sms_form": forms.get("sms_form")
                or SmsFallbackForm(
                    prefix="sms",
                    initial={
                        "enabled": app.sms_fallback_enabled,
                        "delay_minutes": (app.sms_fallback_delay + 59) // 60,
                        "on": app.sms_fallback_on,
                        "provider": app.sms_fallback_provider,
                    },
                ),
                "packages": _vendor_rows(app, forms.get("vendor_forms")),
            }
        )
    return render(request, "console/credentials/push_config.html", context, status=status)


@app_permission(Perm.VIEW)
@require_GET
def push_config(request: HttpRequest, app: App) -> HttpResponse:
    return _push_config_page(request, app)


def _credential_file_limit() -> int:
    return settings.PUSHDECK_CREDENTIAL_FILE_MAX_BYTES


@app_permission(Perm.CONFIGURE)
@upload_limit(_credential_file_limit)
@require_POST
def apns_certificate_upload(request: HttpRequest, app: App) -> HttpResponse:
    form = ApnsCertificateForm(request.POST, request.FILES, app=app)
    if too_large(request):
        form.add_error(None, too_large_message(request))
    if not form.is_valid():
        return _push_config_page(request, app, status=400, cert_form=form)
    cert = services.apns_certificate_upload(
        app=app,
        parsed=form.parsed,
        data=form.data_bytes,
        password=form.cleaned_data["password"],
        actor=request.user,
        request=request,
        bundle_override=form.cleaned_data["override_bundle_id"],
    )
    messages.success(
        request,
        _("Certificate for %(topic)s (%(env)s) saved; it expires on %(date)s.")
        % {"topic": cert.topic, "env": cert.get_environment_display(), "date": cert.not_after.strftime("%Y-%m-%d")},
    )
    return redirect("console:push-config", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@upload_limit(_credential_file_limit)
@require_POST
def apns_token_save(request: HttpRequest, app: App) -> HttpResponse:
    has_key = ApnsTokenKey.objects.filter(app=app, is_active=True).exists()
    form = ApnsTokenKeyForm(request.POST, request.FILES, has_key=has_key)
    if too_large(request):
        form.add_error(None, too_large_message(request))
    if not form.is_valid():
        return _push_config_page(request, app, status=400, token_form=form)
    data = form.cleaned_data
    services.apns_token_key_save(
        app=app,
        key_pem=form.key_pem,
        key_id=data["key_id"],
        team_id=data["team_id"],
        topic=data["topic"],
        environment=data["environment"],
        actor=request.user,
        request=request,
    )
    messages.success(request, _("APNs token key saved."))
    return redirect("console:push-config", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@require_POST
def apns_auth_set(request: HttpRequest, app: App) -> HttpResponse:
    form = ApnsAuthForm(request.POST, app=app)
    if not form.is_valid():
        return _push_config_page(request, app, status=400, auth_form=form)
    services.apns_auth_set(app=app, auth=form.cleaned_data["apns_auth"], actor=request.user, request=request)
    messages.success(request, _("APNs authentication saved."))
    return redirect("console:push-config", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@require_POST
def sms_fallback_set(request: HttpRequest, app: App) -> HttpResponse:
    form = SmsFallbackForm(request.POST, prefix="sms")
    if not form.is_valid():
        return _push_config_page(request, app, status=400, sms_form=form)
    data = form.cleaned_data
    services.sms_fallback_set(
        app=app,
        enabled=data["enabled"],
        delay=data["delay_minutes"] * 60,
        on=data["on"],
        provider=data["provider"],
        actor=request.user,
        request=request,
    )
    messages.success(request, _("SMS fallback saved."))
    return redirect("console:push-config", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@upload_limit(_credential_file_limit)
@require_POST
def fcm_save(request: HttpRequest, app: App) -> HttpResponse:
    fcm = FcmCredential.objects.filter(app=app).first()
    form = FcmForm(request.POST, request.FILES, has_account=bool(fcm and fcm.service_account))
    if too_large(request):
        form.add_error(None, too_large_message(request))
    if not form.is_valid():
        return _push_config_page(request, app, status=400, fcm_form=form)
    services.fcm_credential_save(
        app=app, enabled=form.cleaned_data["enabled"], service_account=form.parsed, actor=request.user, request=request
    )
    messages.success(request, _("FCM settings saved."))
    return redirect("console:push-config", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@require_POST
def package_create(request: HttpRequest, app: App) -> HttpResponse:
    form = ChannelPackageForm(request.POST, app=app)
    if not form.is_valid():
        return _push_config_page(request, app, status=400, package_form=form)
    services.channel_package_create(
        app=app, package_name=form.cleaned_data["package_name"], actor=request.user, request=request
    )
    messages.success(request, _("Package added."))
    return redirect("console:push-config", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@require_POST
def package_delete(request: HttpRequest, app: App, package_id: int) -> HttpResponse:
    package = get_object_or_404(ChannelPackage, pk=package_id, app=app)
    try:
        services.channel_package_delete(package=package, actor=request.user, request=request)
    except CredentialError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Package deleted."))
    return redirect("console:push-config", app_key=app.app_key)


def _vendor_or_404(vendor: str) -> str:
    if vendor not in Vendor.values:
        raise Http404
    return vendor


@app_permission(Perm.CONFIGURE)
@require_POST
def vendor_save(request: HttpRequest, app: App, package_id: int, vendor: str) -> HttpResponse:
    package = get_object_or_404(ChannelPackage, pk=package_id, app=app)
    vendor = _vendor_or_404(vendor)
    channel = VendorChannel.objects.filter(package=package, vendor=vendor).first()
    stored = set(services.vendor_secrets(channel)) if channel else set()
    form = VendorChannelForm(request.POST, vendor=vendor, stored_secrets=stored, prefix=f"{package.pk}-{vendor}")
    if not form.is_valid():
        return _push_config_page(request, app, status=400, vendor_forms={(package.pk, vendor): form})
    services.vendor_channel_save(
        app=app,
        package=package,
        vendor=vendor,
        enabled=form.cleaned_data["enabled"],
        new_secrets=form.secret_values(),
        required_secrets=form.required_secrets(),
        actor=request.user,
        request=request,
        **form.public_values(),
    )
    messages.success(
        request,
        _("%(vendor)s keys for %(package)s saved.") % {"vendor": Vendor(vendor).label, "package": package.package_name},
    )
    return redirect("console:push-config", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@require_POST
def vendor_delete(request: HttpRequest, app: App, package_id: int, vendor: str) -> HttpResponse:
    package = get_object_or_404(ChannelPackage, pk=package_id, app=app)
    channel = VendorChannel.objects.filter(package=package, vendor=_vendor_or_404(vendor)).first()
    if channel is None:
        messages.info(request, _("This package has no keys of that vendor."))
    else:
        services.vendor_channel_delete(channel=channel, actor=request.user, request=request)
        messages.success(request, _("Vendor keys deleted."))
    return redirect("console:push-config", app_key=app.app_key)


def _keys_page(request: HttpRequest, app: App, status: int = 200, **forms) -> HttpResponse:
    config, _created = KeyConfig.objects.get_or_create(app=app)
    can_configure = Perm.CONFIGURE in request.app_perms
    rate_limit = own_limit(app)
    context = {
        "app": app,
        "can_configure": can_configure,
        "api_enabled": config.api_enabled,
        "customer_key_fingerprint": config.customer_key_fingerprint,
        "ip_allowlist": config.ip_allowlist.split(),
        "rate_limit": rate_limit,
        "default_rate_limit": settings.PUSHDECK_API_RATE_LIMIT_PER_MINUTE,
        "callback_enabled": config.callback_enabled,
        "callback_url": config.callback_url,
        "console_public_key": config.console_public_key,
        "console_key_fingerprint": pem_public_key_fingerprint(config.console_public_key)
        if config.console_public_key
        else "",
        "console_key_created_at": config.console_key_created_at,
    }
    if can_configure:
        context.update(
            {
                "api_form": forms.get("api_form")
                or ApiKeyForm(
                    has_key=bool(config.customer_public_key),
                    initial={
                        "api_enabled": config.api_enabled,
                        "ip_allowlist": config.ip_allowlist,
                        "rate_limit": rate_limit,
                    },
                ),
                "callback_form": forms.get("callback_form")
                or CallbackForm(
                    initial={"callback_enabled": config.callback_enabled, "callback_url": config.callback_url}
                ),
                "regenerate_form": forms.get("regenerate_form") or ReceiptKeyRegenerateForm(),
            }
        )
    return render(request, "console/credentials/keys.html", context, status=status)


@app_permission(Perm.VIEW)
@require_GET
def keys(request: HttpRequest, app: App) -> HttpResponse:
    return _keys_page(request, app)


@app_permission(Perm.CONFIGURE)
@require_POST
def api_settings_save(request: HttpRequest, app: App) -> HttpResponse:
    config, _created = KeyConfig.objects.get_or_create(app=app)
    form = ApiKeyForm(request.POST, has_key=bool(config.customer_public_key))
    if not form.is_valid():
        return _keys_page(request, app, status=400, api_form=form)
    services.api_settings_save(
        app=app,
        enabled=form.cleaned_data["api_enabled"],
        public_key=form.parsed,
        ip_allowlist=form.cleaned_data["ip_allowlist"],
        rate_limit=form.cleaned_data["rate_limit"],
        actor=request.user,
        request=request,
    )
    messages.success(request, _("Push API settings saved."))
    return redirect("console:keys", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@require_POST
def callback_save(request: HttpRequest, app: App) -> HttpResponse:
    form = CallbackForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, app, status=400, callback_form=form)
    services.callback_settings_save(
        app=app,
        enabled=form.cleaned_data["callback_enabled"],
        url=form.cleaned_data["callback_url"],
        actor=request.user,
        request=request,
    )
    messages.success(request, _("Callback settings saved."))
    return redirect("console:keys", app_key=app.app_key)


@app_permission(Perm.CONFIGURE)
@require_POST
def receipt_key_regenerate(request: HttpRequest, app: App) -> HttpResponse:
    form = ReceiptKeyRegenerateForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, app, status=400, regenerate_form=form)
    services.receipt_keypair_regenerate(app=app, actor=request.user, request=request)
    messages.success(request, _("A new receipt-signing key pair was made. Give the new public key to your server."))
    return redirect("console:keys", app_key=app.app_key)


@app_permission(Perm.VIEW)
@require_GET
def receipt_public_key(request: HttpRequest, app: App) -> HttpResponse:
    config, _created = KeyConfig.objects.get_or_create(app=app)
    if not config.console_public_key:
        # The pair is made by a worker right after the app is created.
        messages.info(request, _("The receipt key pair is being generated; try again in a moment."))
        return _keys_page(request, app)
    response = HttpResponse(config.console_public_key, content_type="application/x-pem-file")
    response["Content-Disposition"] = f'attachment; filename="pushdeck-receipt-{app.app_key}.pem"'
    return response
