from django.urls import include, path

from . import views
from .credentials.urls import urlpatterns as credential_urlpatterns

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("apps/new/", views.app_create, name="app-create"),
    path("apps/<str:app_key>/", views.app_overview, name="app-overview"),
    path("apps/<str:app_key>/edit/", views.app_edit, name="app-edit"),
    path("apps/<str:app_key>/secret/reveal/", views.app_secret_reveal, name="app-secret-reveal"),
    path("apps/<str:app_key>/secret/rotate/", views.app_secret_rotate, name="app-secret-rotate"),
    path("apps/<str:app_key>/members/", views.members, name="members"),
    path("apps/<str:app_key>/members/<int:membership_id>/role/", views.member_change, name="member-change"),
    path("apps/<str:app_key>/members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("apps/<str:app_key>/audit/", views.audit_log, name="audit-log"),
    path("apps/<str:app_key>/audit/export.csv", views.audit_export, name="audit-export"),
    path("users/", views.users, name="users"),
    path("users/<int:user_id>/", views.user_edit, name="user-edit"),
    path("profile/", views.profile, name="profile"),
    path("language/", views.set_language, name="set-language"),
    path("", include("console.security.urls")),
    path("", include("console.acs.urls")),
]

urlpatterns += credential_urlpatterns
