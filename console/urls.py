from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from templates_app import views as template_views

from . import views
from .ops import views as ops_views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages that name no icon (downloads, plain-text answers).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    path("api/v1/", include("console.api_urls")),
    # Uploaded template images, fetched by push gateways and phones without a login (signed URLs).
    path("images/<str:token>", template_views.public_image, name="template-public-image"),
    path("apps/<str:app_key>/templates/", include("templates_app.urls")),
    path("apps/<str:app_key>/", include("campaigns.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("console.app_urls")),
]
