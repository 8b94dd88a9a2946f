from django.urls import path

from . import views

urlpatterns = [
    path("send/", views.send, name="send"),
    path("send/simple/", views.send_simple, name="send-simple"),
    path("send/template/", views.send_template, name="send-template"),
    path("send/broadcast/", views.send_broadcast, name="send-broadcast"),
    path("send/multiple/", views.send_multiple, name="send-multiple"),
    path("send/multiple/template-help/", views.send_multiple_template_help, name="send-multiple-template-help"),
    path("send/multiple/sample.csv", views.send_multiple_sample, name="send-multiple-sample"),
    path("send/multiple/<int:upload_id>/", views.send_upload, name="send-upload"),
    path("send/multiple/<int:upload_id>/report.csv", views.send_upload_report, name="send-upload-report"),
    path("send/multiple/<int:upload_id>/confirm/", views.send_upload_confirm, name="send-upload-confirm"),
    path("send/tasks/<int:task_id>/", views.send_task, name="send-task"),
    path("send/tasks/<int:task_id>/approve/", views.send_task_approve, name="send-task-approve"),
    path("send/tasks/<int:task_id>/reject/", views.send_task_reject, name="send-task-reject"),
    path("send/tasks/<int:task_id>/cancel/", views.send_task_cancel, name="send-task-cancel"),
    path("send/tasks/<int:task_id>/stop/", views.send_task_stop, name="send-task-stop"),
    path("send/continuous/", views.send_continuous, name="send-continuous"),
    path("send/tasks/<int:task_id>/batch/", views.send_task_batch, name="send-task-batch"),
    path("send/api/", views.api_docs, name="send-api-docs"),
]
