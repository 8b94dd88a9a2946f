"""Hands Alibaba Cloud signed calls to the door before sessions, CSRF or sign-in see them."""

from __future__ import annotations

from . import signing  # noqa: F401 - registers the ACS3 verifier
from .door import serve, verifier_for


class DoorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if verifier_for(request) is not None:
            return serve(request)
        return self.get_response(request)
