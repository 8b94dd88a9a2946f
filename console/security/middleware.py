"""Ask for the TOTP code after the password when the two-factor policy requires it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from .models import TwoFactorPolicy

# Reachable before the second factor: the two-factor pages themselves, sign-out,
# static files, probes and the signed APIs (which have their own authentication).
_OPEN_PREFIXES = ("/static/", "/healthz", "/readyz", "/metrics", "/api/", "/accounts/")


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(_OPEN_PREFIXES)
            and not request.user.is_verified()
            and TwoFactorPolicy.current().requires(user)
        ):
            return redirect(f"{reverse('console:two-factor')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
