from django.urls import path

from . import views

urlpatterns = [
    path("messages/", views.message_list, name="message-list"),
    path("messages/<int:message_id>/", views.message_detail, name="message-detail"),
    path("messages/<int:message_id>/timeline/", views.message_timeline, name="message-timeline"),
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/<int:task_id>/progress/", views.task_progress, name="task-progress"),
    path("tasks/<int:task_id>/stop/", views.task_stop, name="task-stop"),
    path("devices/", views.device_query, name="device-query"),
    path("push-records/", views.push_records, name="push-records"),
    path("receipts/", views.receipt_log, name="receipt-log"),
    path("troubleshoot/", views.troubleshoot, name="troubleshoot"),
    path("sms/", views.sms_list, name="sms-list"),
    path("analysis/", views.analysis, name="analysis"),
    path("analysis/export/", views.analysis_export, name="analysis-export"),
    path("exports/", views.exports, name="exports"),
]
