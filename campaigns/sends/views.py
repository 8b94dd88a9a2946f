from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.codes import PushError
from campaigns.gateways.base import OutgoingPush
from campaigns.models import UPLOAD_WORKING, PushTask, PushType, SendUpload, TaskStatus
from campaigns.payloads import preview as payload_preview
from console.models import App, Perm
from console.permissions import app_permission
from console.uploads import limit_uploads

from . import forms, rules, services
from .openapi import document

FORMS = {
    "simple": (forms.SimpleSendForm, gettext_lazy("Simple push")),
    "template": (forms.TemplateSendForm, gettext_lazy("Template push")),
    "broadcast": (forms.BroadcastSendForm, gettext_lazy("Broadcast push")),
}


def _preview(form: forms.SendForm) -> dict:
    """The notification, iOS and Android payloads of the first message, exactly as built for the gateways."""
    first = form.messages[0]
    p = first["payload"]
    push = OutgoingPush(
        delivery_id=0,
        push_id=str(uuid.uuid5(uuid.NAMESPACE_URL, first["customer_msg_id"])),
        token="",
        platform=first["platform"] or "android",
        title=first["title"],
        body=first["body"],
        expires_at=first["expires_at"],
        silent=p["silent"],
        display_style=p["display_style"],
        click_action=p["click_action"],
        url=p["url"],
        activity=p["activity"],
        icon_url=p["icon_url"],
        image_url=p["image_url"],
        topic=form.app.ios_bundle_id,
        extras=p["extras"],
    )
    notes = services.vendor_notes(app=form.app, spec=form.spec, messages=form.messages)
    return {
        "message": first,
        "payloads": payload_preview(push),
        "count": len(form.messages),
        "vendor_notes": [rules.vendor_note_text(n) for n in notes],
    }


@app_permission(Perm.SEND)
@require_GET
def send(request: HttpRequest, app: App) -> HttpResponse:
    tasks = PushTask.objects.filter(
        app=app,
        status__in=[
            TaskStatus.AWAITING_APPROVAL,
            TaskStatus.SCHEDULED,
            TaskStatus.QUEUED,
            TaskStatus.RUNNING,
            TaskStatus.INGESTING,
        ],
    ).select_related("created_by")[:50]
    return render(request, "campaigns/sends/index.html", {"app": app, "open_tasks": tasks})


def _form_page(request: HttpRequest, app: App, kind: str) -> HttpResponse:
    form_class, title = FORMS[kind]
    preview = audience = None
    if request.method == "POST":
        token = request.POST.get("idempotency_token")
        if request.POST.get("action") == "submit" and token:
            # A double submit answers with the first send, before any rule runs again.
            existing = services.task_for_idempotency(app, f"console:{token}")
            if existing is not None:
                messages.info(request, _("This form was already submitted; here is that send."))
                return redirect("campaigns:send-task", app_key=app.app_key, task_id=existing.pk)
        form = form_class(request.POST, request.FILES, app=app)
        if getattr(request, "upload_too_large", False):
            form.add_error(
                None,
                _("The file is larger than %(mb)s MB.")
                % {"mb": settings.PUSHDECK_TARGET_FILE_MAX_BYTES // (1024 * 1024)},
            )
        elif form.is_valid():
            action = request.POST.get("action", "preview")
            try:
                if action == "submit":
                    task, created = services.send_submit(
                        app=app,
                        spec=form.spec,
                        source="console",
                        actor=request.user,
                        idempotency_key=form.idempotency_key,
                        request=request,
                    )
                    if not created:
                        messages.info(request, _("This form was already submitted; here is that send."))
                    return redirect("campaigns:send-task", app_key=app.app_key, task_id=task.pk)
                if action == "test":
                    task = services.send_test(app=app, spec=form.spec, actor=request.user, request=request)
                    messages.success(request, _("Test send queued to %(n)s test devices.") % {"n": task.total_rows})
                    return redirect("campaigns:send-task", app_key=app.app_key, task_id=task.pk)
            except PushError as error:
                form.add_error(None, forms.push_error_text(error))
            else:
                preview = _preview(form)
                audience = services.send_audience(app=app, spec=form.spec)
    else:
        form = form_class(app=app)
    return render(
        request,
        "campaigns/sends/send_form.html",
        {
            "app": app,
            "form": form,
            "kind": kind,
            "title": title,
            "preview": preview,
            "audience": audience,
            "has_test_devices": services.test_devices(app).exists(),
        },
    )


@app_permission(Perm.SEND)
@require_http_methods(["GET", "POST"])
def send_simple(request: HttpRequest, app: App) -> HttpResponse:
    return _form_page(request, app, "simple")


@app_permission(Perm.SEND)
@require_http_methods(["GET", "POST"])
def send_template(request: HttpRequest, app: App) -> HttpResponse:
    return _form_page(request, app, "template")


@app_permission(Perm.SEND)
@csrf_exempt
@require_http_methods(["GET", "POST"])
def send_broadcast(request: HttpRequest, app: App) -> HttpResponse:
    # The size limit must be in place before the body is parsed (so before the CSRF check reads it).
    limit_uploads(request, settings.PUSHDECK_TARGET_FILE_MAX_BYTES)
    return csrf_protect(_form_page)(request, app, "broadcast")


@app_permission(Perm.SEND)
@csrf_exempt
@require_http_methods(["GET", "POST"])
def send_multiple(request: HttpRequest, app: App) -> HttpResponse:
    limit_uploads(request, settings.PUSHDECK_MULTIPLE_FILE_MAX_BYTES)
    return csrf_protect(_multiple_page)(request, app)


def _multiple_page(request: HttpRequest, app: App) -> HttpResponse:
    if request.method == "POST":
        form = forms.MultipleSendForm(request.POST, request.FILES, app=app)
        if getattr(request, "upload_too_large", False):
            form = forms.MultipleSendForm(request.POST, app=app)
            form.is_valid()
            form.errors.pop("file", None)
            form.add_error(
                "file",
                _("The file is larger than %(mb)s MB; it was refused while uploading.")
                % {"mb": settings.PUSHDECK_MULTIPLE_FILE_MAX_BYTES // (1024 * 1024)},
            )
        elif form.is_valid():
            try:
                upload = services.upload_create(
                    app=app, file=form.cleaned_data["file"], spec=form.spec, actor=request.user, request=request
                )
            except PushError as error:
                form.add_error(None, forms.push_error_text(error))
            else:
                return redirect("campaigns:send-upload", app_key=app.app_key, upload_id=upload.pk)
    else:
        form = forms.MultipleSendForm(app=app)
    return render(request, "campaigns/sends/multiple_form.html", {"app": app, "form": form})


def _upload_for(app: App, upload_id: int) -> SendUpload:
    return get_object_or_404(
        SendUpload.objects.select_related("template_version__template"), app=app, pk=upload_id, kind="csv"
    )


@app_permission(Perm.SEND)
@require_GET
def send_upload(request: HttpRequest, app: App, upload_id: int) -> HttpResponse:
    upload = _upload_for(app, upload_id)
    percent = int(100 * upload.bytes_done / upload.size) if upload.size else 100
    if upload.status not in UPLOAD_WORKING:
        percent = 100
    context = {
        "app": app,
        "upload": upload,
        "percent": percent,
        "token": uuid.uuid4().hex,
        "working": upload.status in UPLOAD_WORKING,
    }
    if request.htmx:
        return render(request, "campaigns/sends/_upload_progress.html", context)
    return render(request, "campaigns/sends/upload.html", context)


@app_permission(Perm.SEND)
@require_GET
def send_upload_report(request: HttpRequest, app: App, upload_id: int) -> HttpResponse:
    upload = _upload_for(app, upload_id)
    if not upload.report:
        response = HttpResponse("", content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="upload-{upload.pk}-errors.csv"'
        return response
    return FileResponse(
        upload.report.open("rb"), as_attachment=True, filename=f"upload-{upload.pk}-errors.csv", content_type="text/csv"
    )


@app_permission(Perm.SEND)
@require_POST
def send_upload_confirm(request: HttpRequest, app: App, upload_id: int) -> HttpResponse:
    upload = _upload_for(app, upload_id)
    form = forms.UploadConfirmForm(request.POST)
    form.is_valid()
    token = form.cleaned_data.get("idempotency_token")
    try:
        task, _created = services.upload_confirm(
            app=app,
            upload_id=upload.pk,
            actor=request.user,
            idempotency_key=f"console:{token}" if token else None,
            skip_bad=bool(form.cleaned_data.get("skip_bad")),
            request=request,
        )
    except PushError as error:
        messages.error(request, forms.push_error_text(error))
        return redirect("campaigns:send-upload", app_key=app.app_key, upload_id=upload.pk)
    return redirect("campaigns:send-task", app_key=app.app_key, task_id=task.pk)


def _task_for(app: App, task_id: int) -> PushTask:
    return get_object_or_404(
        PushTask.objects.select_related("created_by", "approved_by", "template_version"), app=app, pk=task_id
    )


@app_permission(Perm.SEND)
@require_GET
def send_task(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    task = _task_for(app, task_id)
    first = task.messages.order_by("id").first()
    context = {
        "app": app,
        "task": task,
        "first": first,
        "ingest_percent": int(100 * task.ingested_rows / task.total_rows) if task.total_rows else 0,
        "can_approve": task.status == TaskStatus.AWAITING_APPROVAL and task.created_by_id != request.user.pk,
        "batch_form": forms.ContinuousBatchForm(initial={"idempotency_token": uuid.uuid4().hex})
        if task.push_type == PushType.CONTINUOUS and task.status not in (TaskStatus.STOPPED, TaskStatus.CANCELLED)
        else None,
        "now": timezone.now(),
        "vendor_notes": [rules.vendor_note_text(n) for n in (task.params or {}).get("vendor_notes") or []],
    }
    if request.htmx:
        return render(request, "campaigns/sends/_task_status.html", context)
    return render(request, "campaigns/sends/task.html", context)


def _task_action(request: HttpRequest, app: App, task_id: int, action, done: str) -> HttpResponse:
    _task_for(app, task_id)
    try:
        action(app=app, task_id=task_id, actor=request.user, request=request)
    except PushError as error:
        messages.error(request, forms.push_error_text(error))
    else:
        messages.success(request, done)
    return redirect("campaigns:send-task", app_key=app.app_key, task_id=task_id)


@app_permission(Perm.SEND)
@require_POST
def send_task_approve(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    return _task_action(request, app, task_id, services.task_approve, _("The send was approved."))


@app_permission(Perm.SEND)
@require_POST
def send_task_reject(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    return _task_action(request, app, task_id, services.task_reject, _("The send was rejected."))


@app_permission(Perm.SEND)
@require_POST
def send_task_cancel(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    return _task_action(request, app, task_id, services.task_cancel, _("The scheduled send was cancelled."))


@app_permission(Perm.SEND)
@require_POST
def send_task_stop(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    return _task_action(
        request, app, task_id, services.task_stop, _("The send was stopped; messages not yet sent are cancelled.")
    )


@app_permission(Perm.VIEW)
@require_GET
def api_docs(request: HttpRequest, app: App) -> HttpResponse:
    doc = document()
    operations = []
    for path, methods in doc["paths"].items():
        op = methods["post"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        required = set(schema.get("required", []))
        fields = [
            {
                "name": name,
                "type": spec.get("type", "any"),
                "required": name in required,
                "description": spec.get("description", ""),
                "limits": ", ".join(
                    f"{k} {spec[k]}"
                    for k in ("enum", "maxLength", "maxItems", "maxProperties", "minimum", "maximum", "default")
                    if k in spec
                ),
            }
            for name, spec in schema.get("properties", {}).items()
        ]
        operations.append({"path": path, "summary": op["summary"], "fields": fields, "responses": op["responses"]})
    return render(
        request,
        "campaigns/sends/api_docs.html",
        {
            "app": app,
            "doc": doc,
            "operations": operations,
            "headers": doc["paths"][next(iter(doc["paths"]))]["post"]["parameters"],
        },
    )


@app_permission(Perm.SEND)
@require_http_methods(["GET", "POST"])
def send_continuous(request: HttpRequest, app: App) -> HttpResponse:
    if request.method == "POST":
        form = forms.ContinuousCreateForm(request.POST, app=app)
        if form.is_valid():
            token = form.cleaned_data.get("idempotency_token")
            try:
                task, _created = services.continuous_create(
                    app=app,
                    spec=form.spec,
                    actor=request.user,
                    request=request,
                    idempotency_key=f"console:{token}" if token else None,
                )
            except PushError as error:
                form.add_error(None, forms.push_error_text(error))
            else:
                return redirect("campaigns:send-task", app_key=app.app_key, task_id=task.pk)
    else:
        form = forms.ContinuousCreateForm(app=app)
    return render(request, "campaigns/sends/continuous_form.html", {"app": app, "form": form})


@app_permission(Perm.SEND)
@require_POST
def send_task_batch(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    _task_for(app, task_id)
    form = forms.ContinuousBatchForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("campaigns:send-task", app_key=app.app_key, task_id=task_id)
    token = form.cleaned_data.get("idempotency_token")
    try:
        task, _created = services.continuous_push(
            app=app,
            task_id=task_id,
            target_type=form.cleaned_data["target_kind"],
            target_values=form.cleaned_data["target_values"],
            actor=request.user,
            request=request,
            idempotency_key=f"console:{token}" if token else None,
        )
    except PushError as error:
        messages.error(request, forms.push_error_text(error))
    else:
        messages.success(request, _("Batch %(n)s queued.") % {"n": task.params.get("batches", 0)})
    return redirect("campaigns:send-task", app_key=app.app_key, task_id=task_id)
