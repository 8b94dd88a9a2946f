from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .permissions import apps_for_user, can_create_apps

# The left navigation mirrors the push console. (label, url name, required perm)
NAV = [
    (_("Overview"), "console:app-overview", "view"),
    (_("Push configuration"), "console:push-config", "view"),
    (_("Key management"), "console:keys", "view"),
    (_("Templates"), "templates_app:template-list", "view"),
    (_("Send"), "campaigns:send", "send"),
    (_("Message list"), "campaigns:message-list", "view"),
    (_("Task list"), "campaigns:task-list", "view"),
    (_("Device query"), "campaigns:device-query", "view"),
    (_("Push records"), "campaigns:push-records", "view"),
    (_("Receipt log"), "campaigns:receipt-log", "view"),
    (_("Troubleshooting"), "campaigns:troubleshoot", "view"),
    (_("Usage analysis"), "campaigns:analysis", "view"),
    (_("Exports"), "campaigns:exports", "export"),
    (_("Audit log"), "console:audit-log", "audit"),
    (_("Members"), "console:members", "manage_members"),
]


def console(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    app = getattr(request, "app", None)
    perms = getattr(request, "app_perms", frozenset())
    nav = []
    warnings = []
    if app is not None:
        for label, name, perm in NAV:
            if perm in perms:
                url = reverse(name, kwargs={"app_key": app.app_key})
                nav.append(
                    {
                        "label": label,
                        "url": url,
                        "active": request.path == url
                        or (request.path.startswith(url) and url.rstrip("/").count("/") > 2),
                    }
                )
        from .selectors import credential_warnings

        warnings = credential_warnings(app=app)
    return {
        "current_app": app,
        "app_perms": perms,
        "my_apps": list(apps_for_user(user).only("name", "app_key")),
        "nav_items": nav,
        "credential_warnings": warnings,
        "can_create_apps": can_create_apps(user),
        "viewer_timezone": getattr(request, "timezone_name", "UTC"),
    }
