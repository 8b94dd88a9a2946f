"""Console pages of the campaigns app, under /apps/<app_key>/ (namespace `campaigns`)."""

from django.urls import include, path

app_name = "campaigns"

urlpatterns = [
    path("", include("campaigns.sends.urls")),
    path("", include("campaigns.delivery.urls")),
    path("", include("campaigns.reports.urls")),
]
