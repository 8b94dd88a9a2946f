from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AcsConfig(AppConfig):
    name = "console.acs"
    label = "acs"
    verbose_name = _("AccessKeys and the Alibaba Cloud door")

    def ready(self) -> None:
        from . import signing  # noqa: F401
