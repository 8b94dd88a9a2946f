from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # The mPaaS 2020-10-28 and EMAS 2016-08-01 actions register with the Alibaba Cloud door (console.acs).
        from console.overview import register

        from .emas import door  # noqa: F401
        from .mpaas import analysis, devices, push, templates  # noqa: F401
        from .reports.overview import activity_panel

        register(activity_panel)
