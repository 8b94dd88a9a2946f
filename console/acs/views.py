"""The AccessKeys of the signed-in user, on their profile: the secret is shown once, at creation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .models import AccessKey


def _page(request: HttpRequest, *, created: AccessKey | None = None, status: int = 200) -> HttpResponse:
    keys = AccessKey.objects.filter(user=request.user)
    return render(
        request,
        "acs/access_keys.html",
        {"keys": keys, "created": created, "max_keys": services.MAX_KEYS_PER_USER},
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def access_keys(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            key = services.access_key_create(user=request.user, request=request)
        except services.TooManyKeys:
            messages.error(
                request,
                _("You already have %(count)d AccessKeys: delete one first.") % {"count": services.MAX_KEYS_PER_USER},
            )
            return redirect("console:access-keys")
        # Rendered, not redirected: the secret is on this one answer and never again.
        return _page(request, created=key, status=201)
    return _page(request)


def _own_key(request: HttpRequest, key_id: int) -> AccessKey:
    key = AccessKey.objects.filter(user=request.user, pk=key_id).first()
    if key is None:
        raise Http404
    return key


@login_required
@require_POST
def access_key_disable(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _own_key(request, key_id)
    services.access_key_set_enabled(key=key, enabled=False, actor=request.user, request=request)
    messages.success(request, _("AccessKey %(id)s disabled.") % {"id": key.access_key_id})
    return redirect("console:access-keys")


@login_required
@require_POST
def access_key_enable(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _own_key(request, key_id)
    services.access_key_set_enabled(key=key, enabled=True, actor=request.user, request=request)
    messages.success(request, _("AccessKey %(id)s enabled.") % {"id": key.access_key_id})
    return redirect("console:access-keys")


@login_required
@require_POST
def access_key_delete(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _own_key(request, key_id)
    key_id_text = key.access_key_id
    services.access_key_delete(key=key, actor=request.user, request=request)
    messages.success(request, _("AccessKey %(id)s deleted.") % {"id": key_id_text})
    return redirect("console:access-keys")
