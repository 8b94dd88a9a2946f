"""Per-user language and time zone, the security headers every page carries, and the short
way the signed APIs take past the console's middleware."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.urls import resolve
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers


class UserTimezoneMiddleware:
    """Activates the viewer's time zone and saved language (after authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tzname = "UTC"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            profile = getattr(user, "profile", None)
            if profile is not None:
                tzname = profile.timezone or "UTC"
                if profile.language and not request.path.startswith("/api/"):
                    translation.activate(profile.language)
                    request.LANGUAGE_CODE = translation.get_language()
        try:
            timezone.activate(zoneinfo.ZoneInfo(tzname))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        request.timezone_name = tzname
        response = self.get_response(request)
        timezone.deactivate()
        return response


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def security_headers(response):
    response.setdefault("Content-Security-Policy", CSP)
    response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if settings.DEBUG is False:
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    return response


class SecurityHeadersMiddleware:
    """A Content-Security-Policy with no inline script, on every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return security_headers(self.get_response(request))


API_PREFIX = "/api/v1/"


def _api_view(request):
    match = resolve(request.path_info)
    request.resolver_match = match
    return match.func(request, *match.args, **match.kwargs)


class SignedApiMiddleware:
    """Calls under /api/v1/ (the signed server and client APIs, console.api_urls) go straight to
    their view, past the middleware after this one.

    Those calls carry no cookie and use no session, CSRF token, sign-in, second factor, flash
    message, htmx header, lockout or per-user time zone; running that chain anyway cost a signed
    push about a sixth of its CPU. What they do use is kept here: the language of
    Accept-Language (the template API's form errors), the headers every response carries, and
    the Content-Length of a whole answer.
    Errors become responses as everywhere (404, 500 and their logging). The middleware before
    this one (HTTPS redirect, HSTS, the Alibaba Cloud door) still runs."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.api = convert_exception_to_response(_api_view)

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        # As LocaleMiddleware (no language prefix in these paths).
        translation.activate(translation.get_language_from_request(request))
        request.LANGUAGE_CODE = translation.get_language()
        response = self.api(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not response.streaming:
            # As CommonMiddleware: a whole answer says its length (else the server sends it chunked).
            response.headers.setdefault("Content-Length", str(len(response.content)))
        return security_headers(response)
