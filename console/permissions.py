"""Server-side permission checks: every app-scoped view goes through `app_permission`."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from .models import ROLE_PERMS, App, Membership, Perm, Role


def membership_for(user, app: App) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, app=app).first()


def user_perms(user, app: App) -> frozenset[str]:
    if user.is_superuser:
        return frozenset(Perm.values)
    membership = membership_for(user, app)
    return ROLE_PERMS.get(membership.role, frozenset()) if membership else frozenset()


def apps_for_user(user):
    if user.is_superuser:
        return App.objects.all()
    return App.objects.filter(memberships__user=user).distinct()


def _get_app_for_user(request: HttpRequest, app_key: str) -> App:
    """The app, or 404 when the user is not a member (outsiders learn nothing)."""
    app = App.objects.filter(app_key=app_key).first()
    if app is None:
        raise Http404
    perms = user_perms(request.user, app)
    if not perms:
        raise Http404
    request.app = app
    request.app_perms = perms
    return app


def app_permission(perm: str):
    """Decorator for views under /apps/<app_key>/: login, membership (404), then the perm (403).

    The view receives `app` instead of `app_key`.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, app_key: str, *args, **kwargs):
            app = _get_app_for_user(request, app_key)
            if perm not in request.app_perms:
                raise PermissionDenied
            return view(request, *args, app=app, **kwargs)

        wrapper.required_perm = perm
        return wrapper

    return decorator


def superuser_required(view):
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    wrapper.superuser_only = True
    return wrapper


def can_create_apps(user) -> bool:
    return user.is_superuser or Membership.objects.filter(user=user, role=Role.CHANNEL_ADMIN).exists()
