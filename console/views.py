"""Console views: apps, secrets, members, users, profile, audit log, health."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from . import crypto, services
from .audit import audit_record
from .exports import csv_response
from .forms import AppForm, AuditFilterForm, MemberForm, ProfileForm, RoleForm, UserCreateForm, UserEditForm
from .models import App, Membership, Perm, Role, UserProfile
from .permissions import app_permission, apps_for_user, can_create_apps, superuser_required
from .selectors import audit_list
from .templatetags.console_format import as_json

User = get_user_model()


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    app = apps_for_user(request.user).first()
    if app is not None:
        return redirect("console:app-overview", app_key=app.app_key)
    return render(request, "console/no_apps.html")


@login_required
@require_http_methods(["GET", "POST"])
def app_create(request: HttpRequest) -> HttpResponse:
    if not can_create_apps(request.user):
        return render(request, "403.html", status=403)
    form = AppForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        app = services.app_create(creator=request.user, request=request, **form.cleaned_data)
        messages.success(request, _("App “%(name)s” created.") % {"name": app.name})
        return redirect("console:app-overview", app_key=app.app_key)
    return render(request, "console/app_form.html", {"form": form, "creating": True})


@app_permission(Perm.VIEW)
@require_GET
def app_overview(request: HttpRequest, app: App) -> HttpResponse:
    from .health import credential_health
    from .overview import panels_for

    return render(
        request,
        "console/app_overview.html",
        {
            "app": app,
            "secret_masked": crypto.mask(app.app_secret),
            "health": credential_health(app=app),
            "panels": panels_for(request, app),
        },
    )


@app_permission(Perm.CONFIGURE)
@require_http_methods(["GET", "POST"])
def app_edit(request: HttpRequest, app: App) -> HttpResponse:
    form = AppForm(request.POST or None, instance=app)
    if request.method == "POST" and form.is_valid():
        fields = {k: form.cleaned_data[k] for k in form.changed_data}
        app.refresh_from_db()
        if fields:
            services.app_update(app=app, actor=request.user, request=request, **fields)
        messages.success(request, _("App settings saved."))
        return redirect("console:app-overview", app_key=app.app_key)
    return render(request, "console/app_form.html", {"form": form, "app": app})


@app_permission(Perm.CONFIGURE)
@require_POST
@never_cache
def app_secret_reveal(request: HttpRequest, app: App) -> HttpResponse:
    secret = services.app_secret_reveal(app=app, actor=request.user, request=request)
    response = render(request, "console/_app_secret.html", {"app": app, "revealed_secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@app_permission(Perm.CONFIGURE)
@require_POST
def app_secret_rotate(request: HttpRequest, app: App) -> HttpResponse:
    services.app_secret_rotate(app=app, actor=request.user, request=request)
    messages.success(request, _("A new AppSecret was issued. The old one no longer works."))
    url = f"/apps/{app.app_key}/"
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@app_permission(Perm.MANAGE_MEMBERS)
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, app: App) -> HttpResponse:
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.membership_set(
            app=app,
            user=form.cleaned_data["username"],
            role=form.cleaned_data["role"],
            actor=request.user,
            request=request,
        )
        messages.success(request, _("Member saved."))
        return redirect("console:members", app_key=app.app_key)
    rows = Membership.objects.filter(app=app).select_related("user").order_by("user__username")
    return render(
        request, "console/members.html", {"app": app, "form": form, "memberships": rows, "role_choices": Role.choices}
    )


@app_permission(Perm.MANAGE_MEMBERS)
@require_POST
def member_change(request: HttpRequest, app: App, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=membership_id, app=app)
    form = RoleForm(request.POST)
    if form.is_valid():
        services.membership_set(
            app=app, user=membership.user, role=form.cleaned_data["role"], actor=request.user, request=request
        )
        messages.success(request, _("Role changed."))
    else:
        messages.error(request, _("Choose a valid role."))
    return redirect("console:members", app_key=app.app_key)


@app_permission(Perm.MANAGE_MEMBERS)
@require_POST
def member_remove(request: HttpRequest, app: App, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=membership_id, app=app)
    if membership.user_id == request.user.pk and not request.user.is_superuser:
        messages.error(request, _("You cannot remove yourself from the app."))
    else:
        services.membership_remove(membership=membership, actor=request.user, request=request)
        messages.success(request, _("Member removed."))
    return redirect("console:members", app_key=app.app_key)


def _audit_filters(request: HttpRequest) -> tuple[AuditFilterForm, dict]:
    form = AuditFilterForm(request.GET or None)
    filters: dict = {}
    if form.is_valid():
        data = form.cleaned_data
        tz = timezone.get_current_timezone()
        filters = {
            "actor": data["actor"],
            "action": data["action"],
            "date_from": datetime.combine(data["date_from"], time.min, tz) if data["date_from"] else None,
            "date_to": datetime.combine(data["date_to"] + timedelta(days=1), time.min, tz) if data["date_to"] else None,
        }
    return form, filters


@app_permission(Perm.AUDIT)
@require_GET
def audit_log(request: HttpRequest, app: App) -> HttpResponse:
    form, filters = _audit_filters(request)
    page = Paginator(audit_list(app=app, **filters), 50).get_page(request.GET.get("page"))
    template = "console/_audit_rows.html" if request.htmx else "console/audit_log.html"
    return render(request, template, {"app": app, "form": form, "page": page, "query": request.GET.urlencode()})


@app_permission(Perm.AUDIT)
@require_GET
def audit_export(request: HttpRequest, app: App) -> HttpResponse:
    _form, filters = _audit_filters(request)
    audit_record(action="audit.export", app=app, request=request, summary={"filters": request.GET.dict()})
    rows = (
        (e.at, e.actor_label, e.app_label, e.action, e.target, e.ip, as_json(e.summary))
        for e in audit_list(app=app, **filters).iterator(chunk_size=2000)
    )
    header = [_("Time"), _("Actor"), _("App"), _("Action"), _("Target"), _("IP"), _("Details")]
    return csv_response(f"audit-{app.app_key}.csv", header, rows)


@superuser_required
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.user_create(
            username=data["username"],
            password=data["password"],
            email=data["email"],
            is_superuser=data["is_superuser"],
            actor=request.user,
            request=request,
        )
        messages.success(request, _("User created."))
        return redirect("console:users")
    rows = User.objects.order_by("username").prefetch_related("memberships__app")
    return render(request, "console/users.html", {"form": form, "users": rows, "apps": App.objects.all()})


@superuser_required
@require_POST
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(User, pk=user_id)
    form = UserEditForm(request.POST)
    if form.is_valid():
        if user.pk == request.user.pk and not form.cleaned_data["is_superuser"]:
            messages.error(request, _("You cannot take away your own superuser rights."))
        else:
            services.user_update(user=user, actor=request.user, request=request, **form.cleaned_data)
            messages.success(request, _("User saved."))
    return redirect("console:users")


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    current, _created = UserProfile.objects.get_or_create(user=request.user)
    form = ProfileForm(request.POST or None, initial={"timezone": current.timezone, "language": current.language})
    if request.method == "POST" and form.is_valid():
        services.profile_update(
            user=request.user, timezone_name=form.cleaned_data["timezone"], language=form.cleaned_data["language"]
        )
        messages.success(request, _("Preferences saved."))
        return redirect("console:profile")
    return render(request, "console/profile.html", {"form": form})


@login_required
@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    from django.conf import settings
    from django.utils.http import url_has_allowed_host_and_scheme

    language = request.POST.get("language", "")
    if language in dict(settings.LANGUAGES):
        services.profile_update(user=request.user, language=language)
    next_url = request.POST.get("next") or "/"
    # Only a local path: redirect() would take any other word for a view name (and 500).
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}
    ):
        next_url = "/"
    response = redirect(next_url)
    if language in dict(settings.LANGUAGES):
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax")
    return response


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: this process answers. Dependencies are /readyz's business: a database or
    broker outage must not make an orchestrator restart healthy web processes."""
    return JsonResponse({"status": "ok"})
