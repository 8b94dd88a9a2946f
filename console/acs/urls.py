"""Included into the `console` namespace (see console/app_urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("profile/access-keys/", views.access_keys, name="access-keys"),
    path("profile/access-keys/<int:key_id>/disable/", views.access_key_disable, name="access-key-disable"),
    path("profile/access-keys/<int:key_id>/enable/", views.access_key_enable, name="access-key-enable"),
    path("profile/access-keys/<int:key_id>/delete/", views.access_key_delete, name="access-key-delete"),
]
