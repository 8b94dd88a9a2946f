from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SecurityConfig(AppConfig):
    name = "console.security"
    label = "security"
    verbose_name = _("Security")

    def ready(self) -> None:
        from django.contrib import admin

        from . import signals  # noqa: F401
        from .admin import audit_admin_site

        # Every admin module is imported by now (the admin app's ready() comes first).
        audit_admin_site(admin.site)
