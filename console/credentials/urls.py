"""Push configuration and key management, mounted into the `console` namespace by app_urls."""

from django.urls import path

from . import views

urlpatterns = [
    path("apps/<str:app_key>/push-config/", views.push_config, name="push-config"),
    path("apps/<str:app_key>/push-config/apns/certificate/", views.apns_certificate_upload, name="apns-certificate"),
    path("apps/<str:app_key>/push-config/apns/token/", views.apns_token_save, name="apns-token"),
    path("apps/<str:app_key>/push-config/apns/auth/", views.apns_auth_set, name="apns-auth"),
    path("apps/<str:app_key>/push-config/sms/", views.sms_fallback_set, name="sms-fallback"),
    path("apps/<str:app_key>/push-config/fcm/", views.fcm_save, name="fcm"),
    path("apps/<str:app_key>/push-config/packages/", views.package_create, name="package-create"),
    path(
        "apps/<str:app_key>/push-config/packages/<int:package_id>/delete/",
        views.package_delete,
        name="package-delete",
    ),
    path(
        "apps/<str:app_key>/push-config/packages/<int:package_id>/<str:vendor>/",
        views.vendor_save,
        name="vendor-save",
    ),
    path(
        "apps/<str:app_key>/push-config/packages/<int:package_id>/<str:vendor>/delete/",
        views.vendor_delete,
        name="vendor-delete",
    ),
    path("apps/<str:app_key>/keys/", views.keys, name="keys"),
    path("apps/<str:app_key>/keys/api/", views.api_settings_save, name="keys-api"),
    path("apps/<str:app_key>/keys/callback/", views.callback_save, name="keys-callback"),
    path("apps/<str:app_key>/keys/receipt/regenerate/", views.receipt_key_regenerate, name="receipt-key-regenerate"),
    path("apps/<str:app_key>/keys/receipt/public.pem", views.receipt_public_key, name="receipt-public-key"),
]
