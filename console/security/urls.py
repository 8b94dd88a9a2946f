"""Included into the `console` namespace (see console/app_urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("accounts/two-factor/", views.two_factor, name="two-factor"),
    path("accounts/two-factor/setup/", views.two_factor_setup, name="two-factor-setup"),
    path("users/security/", views.security_policy, name="security-policy"),
    path("users/<int:user_id>/two-factor/reset/", views.two_factor_reset, name="two-factor-reset"),
]
