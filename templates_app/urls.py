from django.urls import path

from . import views

app_name = "templates_app"

urlpatterns = [
    path("", views.template_list, name="template-list"),
    path("new/", views.template_create, name="template-create"),
    path("preview/", views.template_preview_view, name="template-preview"),
    path("<int:template_id>/", views.template_detail, name="template-detail"),
    path("<int:template_id>/edit/", views.template_edit, name="template-edit"),
    path("<int:template_id>/delete/", views.template_delete, name="template-delete"),
    path("<int:template_id>/history/", views.template_history, name="template-history"),
    path("<int:template_id>/versions/<int:version_id>/icon", views.version_icon, name="version-icon"),
    path("<int:template_id>/versions/<int:version_id>/image", views.version_image, name="version-image"),
]
