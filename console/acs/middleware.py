"""Hands Alibaba Cloud signed calls to the door before sessions, CSRF or sign-in see them."""

from __future__ import annotations

from . import rpcsign, signing  # noqa: F401 - register the RPC 1.0 and ACS3 verifiers
from .door import serve, verifier_for


class DoorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if verifier_for(request) is not None:
            return serve(request)
        return self.get_response(request)
