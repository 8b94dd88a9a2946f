"""Template pages: list, view, create/edit with live preview, history with diffs, delete, images."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.codes import PushError
from console.models import App, Perm
from console.permissions import app_permission
from console.uploads import too_large, too_large_message, upload_limit

from . import selectors, services
from .forms import PREVIEW_CSV_MAX_BYTES, PreviewForm, TemplateForm, TemplateSearchForm
from .images import ALLOWED_FORMATS, PUBLIC_IMAGE_SALT
from .models import Template, TemplateVersion
from .preview import template_preview
from .rendering import PLACEHOLDER_RE

PAGE_SIZE = 25
IMAGE_TYPES = dict(ALLOWED_FORMATS.values())  # extension -> content type


def image_url(version: TemplateVersion | None, kind: str) -> str:
    """Where the console shows a version's icon or large image (uploads go through `version_image`)."""
    if version is None:
        return ""
    if getattr(version, kind):
        return reverse(
            f"templates_app:version-{kind}",
            kwargs={
                "app_key": version.template.app.app_key,
                "template_id": version.template_id,
                "version_id": version.pk,
            },
        )
    return getattr(version, f"{kind}_url")


def _form_context(app: App, form: TemplateForm, template: Template | None) -> dict:
    version = template.current_version if template else None
    return {
        "app": app,
        "form": form,
        "template": template,
        "current_icon": image_url(version, "icon"),
        "current_image": image_url(version, "image"),
        "csv_preview_bytes": PREVIEW_CSV_MAX_BYTES,
    }


@app_permission(Perm.VIEW)
@require_GET
def template_list(request: HttpRequest, app: App) -> HttpResponse:
    form = TemplateSearchForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    page = Paginator(selectors.template_list(app=app, query=query), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"app": app, "form": form, "page": page, "query": query}
    if request.htmx:
        return render(request, "templates_app/_template_rows.html", context)
    return render(request, "templates_app/template_list.html", context)


def _template_upload_limit() -> int:
    return settings.PUSHDECK_TEMPLATE_UPLOAD_MAX_BYTES


@app_permission(Perm.EDIT_TEMPLATES)
@upload_limit(_template_upload_limit)
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest, app: App) -> HttpResponse:
    form = TemplateForm(request.POST or None, request.FILES or None, app=app)
    if too_large(request):
        form.add_error(None, too_large_message(request))
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_create(app=app, actor=request.user, request=request, **form.cleaned_data)
        except PushError:
            form.add_error("name", _("A template with this name was just created in this app."))
        else:
            messages.success(request, _("Template “%(name)s” saved as version 1.") % {"name": template.name})
            _warn_unbalanced(request, form.cleaned_data)
            return redirect("templates_app:template-detail", app_key=app.app_key, template_id=template.pk)
    return render(request, "templates_app/template_form.html", _form_context(app, form, None))


def _warn_unbalanced(request: HttpRequest, data: dict) -> None:
    """A # left over once every #name# is taken out ("Hi #name") is sent as written: say so."""
    labels = {"title": _("title"), "body": _("body"), "url": _("URL")}
    for field, label in labels.items():
        text = data.get(field) or ""
        if "#" in PLACEHOLDER_RE.sub("", text):
            messages.warning(
                request,
                _("The %(field)s has a # without its closing #; it is sent as written. Write placeholders as #name#.")
                % {"field": label},
            )


@app_permission(Perm.VIEW)
@require_GET
def template_detail(request: HttpRequest, app: App, template_id: int) -> HttpResponse:
    template = selectors.template_get(app=app, template_id=template_id)
    version = template.current_version
    return render(
        request,
        "templates_app/template_detail.html",
        {
            "app": app,
            "template": template,
            "version": version,
            "icon_src": image_url(version, "icon"),
            "image_src": image_url(version, "image"),
            "can_edit": Perm.EDIT_TEMPLATES in request.app_perms,
            "pending": services.pending_tasks(template),
        },
    )


@app_permission(Perm.EDIT_TEMPLATES)
@upload_limit(_template_upload_limit)
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, app: App, template_id: int) -> HttpResponse:
    template = selectors.template_get(app=app, template_id=template_id)
    version = template.current_version
    initial = {"name": template.name, **{k: getattr(version, k) for k in services.VERSION_FIELDS}} if version else {}
    form = TemplateForm(request.POST or None, request.FILES or None, app=app, template=template, initial=initial)
    if too_large(request):
        form.add_error(None, too_large_message(request))
    if request.method == "POST" and form.is_valid():
        new = services.template_update(template=template, actor=request.user, request=request, **form.cleaned_data)
        messages.success(request, _("Saved as version %(number)s.") % {"number": new.number})
        _warn_unbalanced(request, form.cleaned_data)
        return redirect("templates_app:template-detail", app_key=app.app_key, template_id=template.pk)
    return render(request, "templates_app/template_form.html", _form_context(app, form, template))


@app_permission(Perm.EDIT_TEMPLATES)
@upload_limit(_template_upload_limit)
@require_POST
def template_preview_view(request: HttpRequest, app: App) -> HttpResponse:
    form = PreviewForm(request.POST, request.FILES)
    if too_large(request):
        form.add_error(None, too_large_message(request))
    if not form.is_valid():
        return render(request, "templates_app/_preview.html", {"app": app, "form": form, "errors": form.errors})
    data = dict(form.cleaned_data)
    template_id = request.GET.get("template", "")
    if template_id.isdigit():
        # Editing: images kept from the current version appear in the payload by their console URL.
        version = selectors.template_get(app=app, template_id=int(template_id)).current_version
        for kind in ("icon", "image"):
            kept = not data.get(f"{kind}_url") and not data.get(kind) and not data.get(f"remove_{kind}")
            if kept and getattr(version, kind):
                data[f"{kind}_url"] = request.build_absolute_uri(image_url(version, kind))
    context = template_preview(app=app, data=data, typed=data["sample_values"], rows=data["sample_csv"])
    image_problems = form.image_problems()
    # A file chosen but not saved yet is shown from the request itself (CSP img-src allows data:).
    chosen = form.chosen_image_sources()
    context.update(
        {
            "app": app,
            "form": form,
            "image_problems": image_problems,
            "icon_src": chosen.get("icon") or data.get("icon_url") or "",
            "image_src": chosen.get("image") or data.get("image_url") or "",
            "silent": data.get("display_type") == "silent",
            "csv_received": form.csv_received,
        }
    )
    return render(request, "templates_app/_preview.html", context)


@app_permission(Perm.EDIT_TEMPLATES)
@require_POST
def template_delete(request: HttpRequest, app: App, template_id: int) -> HttpResponse:
    template = selectors.template_get(app=app, template_id=template_id)
    try:
        services.template_delete(template=template, actor=request.user, request=request)
    except services.TemplateInUse as refused:
        messages.error(
            request,
            _("“%(name)s” was not deleted: sends that have not finished still use it (%(tasks)s).")
            % {
                "name": template.name,
                "tasks": ", ".join(f"{t.name} ({t.get_status_display()})" for t in refused.tasks),
            },
        )
        return redirect("templates_app:template-detail", app_key=app.app_key, template_id=template.pk)
    messages.success(request, _("Template “%(name)s” deleted.") % {"name": template.name})
    return redirect("templates_app:template-list", app_key=app.app_key)


@app_permission(Perm.VIEW)
@require_GET
def template_history(request: HttpRequest, app: App, template_id: int) -> HttpResponse:
    template = selectors.template_get(app=app, template_id=template_id)
    entries = selectors.template_history(template=template)
    return render(
        request, "templates_app/template_history.html", {"app": app, "template": template, "entries": entries}
    )


def _serve(app: App, template_id: int, version_id: int, kind: str) -> FileResponse:
    version = (
        TemplateVersion.objects.filter(pk=version_id, template_id=template_id, template__app=app)
        .select_related("template")
        .first()
    )
    return _image_response(version, kind)


@require_GET
def public_image(request: HttpRequest, token: str) -> HttpResponse:
    """An uploaded icon or large image for push gateways and phones, which fetch it without a
    login: the signed token names one version's file (versions never change), nothing else."""
    try:
        version_id, kind = signing.loads(token, salt=PUBLIC_IMAGE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise Http404 from None
    if kind not in ("icon", "image"):
        raise Http404
    response = _image_response(TemplateVersion.objects.filter(pk=version_id).first(), kind)
    response["Cache-Control"] = "public, max-age=604800, immutable"
    return response


def _image_response(version: TemplateVersion | None, kind: str) -> FileResponse:
    stored = getattr(version, kind) if version else None
    extension = stored.name.rsplit(".", 1)[-1].lower() if stored else ""
    if not stored or extension not in IMAGE_TYPES:
        raise Http404
    # Served as the image type Pillow found at upload, never sniffed, never as HTML.
    response = FileResponse(stored.open("rb"), content_type=IMAGE_TYPES[extension])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Disposition"] = f'inline; filename="{kind}.{extension}"'
    return response


@app_permission(Perm.VIEW)
@require_GET
def version_icon(request: HttpRequest, app: App, template_id: int, version_id: int) -> HttpResponse:
    return _serve(app, template_id, version_id, "icon")


@app_permission(Perm.VIEW)
@require_GET
def version_image(request: HttpRequest, app: App, template_id: int, version_id: int) -> HttpResponse:
    return _serve(app, template_id, version_id, "image")
