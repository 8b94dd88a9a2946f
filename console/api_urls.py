"""The server and client APIs under /api/v1/. Each app adds its own module here."""

from django.urls import include, path, re_path

from campaigns.delivery.device_api import client_urlpatterns
from campaigns.sends import api as sends_api
from console.apisign import not_found
from console.security.views import api_ping

urlpatterns: list = [
    path("ping", api_ping, name="api-ping"),
    path("push/simple", sends_api.push_simple, name="api-push-simple"),
    path("push/template", sends_api.push_template, name="api-push-template"),
    path("push/multiple", sends_api.push_multiple, name="api-push-multiple"),
    path("push/broadcast", sends_api.push_broadcast, name="api-push-broadcast"),
    path("push/continuous", sends_api.push_continuous, name="api-push-continuous"),
    path("openapi.json", sends_api.openapi_json, name="api-openapi"),
    path("", include("templates_app.api")),
    path("client/", include(client_urlpatterns)),
    # Last: an unknown path answers JSON (404, 3028), not the HTML page.
    re_path(r"^(?P<rest>.*)$", not_found, name="api-not-found"),
]
