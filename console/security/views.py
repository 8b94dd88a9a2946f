"""Two-factor sign-in, enrolment, the per-role policy page, and the API ping."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from console.apisign import signed_api
from console.permissions import superuser_required

from . import services
from .forms import TotpCodeForm, TwoFactorPolicyForm
from .models import TwoFactorPolicy

User = get_user_model()

_ENROL_SESSION_KEY = "pushdeck_totp_enrol_device"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return "/"
    return target


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in: the code from the user's authenticator app."""
    if not services.has_totp(request.user):
        return redirect(f"/accounts/two-factor/setup/?{urlencode({'next': _next_url(request)})}")
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.totp_verify(user=request.user, code=form.cleaned_data["code"], request=request)
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        form.add_error("code", _("This code is not valid. Wait for the next code and try again."))
    return render(request, "security/two_factor.html", {"form": form, "next": _next_url(request)})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator: the secret is shown once, then a code confirms it."""
    if services.has_totp(request.user) and not request.user.is_verified():
        # Replacing a device needs the current one first, or a password alone would do.
        return redirect(f"/accounts/two-factor/?{urlencode({'next': _next_url(request)})}")
    form = TotpCodeForm(request.POST or None)
    device_id = request.session.get(_ENROL_SESSION_KEY)
    if request.method == "POST" and device_id and form.is_valid():
        device = services.totp_enrol_confirm(
            user=request.user, device_id=device_id, code=form.cleaned_data["code"], request=request
        )
        if device is not None:
            request.session.pop(_ENROL_SESSION_KEY, None)
            otp_login(request, device)
            messages.success(request, _("Two-factor sign-in is on for your account."))
            return redirect(_next_url(request))
        form.add_error("code", _("This code is not valid. Check the clock of your phone and try again."))
    if request.method == "POST":
        return render(
            request, "security/two_factor_setup.html", {"form": form, "next": _next_url(request), "shown": False}
        )
    device = services.totp_enrol_start(user=request.user)
    request.session[_ENROL_SESSION_KEY] = device.pk
    context = {
        "form": form,
        "next": _next_url(request),
        "shown": True,
        "secret": services.totp_secret(device),
        "otpauth_uri": device.config_url,
        "already_enrolled": services.has_totp(request.user),
    }
    response = render(request, "security/two_factor_setup.html", context)
    response["Cache-Control"] = "no-store"
    return response


@superuser_required
@require_http_methods(["GET", "POST"])
def security_policy(request: HttpRequest) -> HttpResponse:
    form = TwoFactorPolicyForm(request.POST or None, instance=TwoFactorPolicy.current())
    if request.method == "POST" and form.is_valid():
        services.two_factor_policy_update(actor=request.user, request=request, **form.cleaned_data)
        messages.success(request, _("Sign-in policy saved."))
        return redirect("console:security-policy")
    enrolled = set(User.objects.filter(totpdevice__confirmed=True).values_list("pk", flat=True))
    rows = [{"user": u, "enrolled": u.pk in enrolled} for u in User.objects.order_by("username")]
    return render(request, "security/policy.html", {"form": form, "rows": rows})


@superuser_required
@require_POST
def two_factor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(User, pk=user_id)
    services.totp_reset(user=user, actor=request.user, request=request)
    messages.success(request, _("Two-factor sign-in was reset for %(user)s.") % {"user": user.get_username()})
    return redirect("console:security-policy")


@signed_api("server")
def api_ping(request: HttpRequest, *, app, data: dict) -> dict:
    """A signed no-op: lets customers check their signing; answers the app key."""
    return {"appKey": app.app_key}
