"""The caller's address: REMOTE_ADDR, or behind our proxies the address they saw.

With BEHIND_PROXY=true, each of the PROXY_COUNT proxies in front of Pushdeck appends
the address it received from to X-Forwarded-For, so the entry PROXY_COUNT from the
right is the client; anything left of it was written by the client and is not trusted.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    if not settings.PUSHDECK_BEHIND_PROXY:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    count = max(settings.PUSHDECK_PROXY_COUNT, 1)
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def axes_client_ip(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: lockouts count per real client, not per proxy."""
    return client_address(request)
