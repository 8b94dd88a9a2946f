"""Message list, task list, device query, push records, receipt log, troubleshooting,
usage analysis and auditor exports. Everyone in the app reads; stopping needs Perm.SEND."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from campaigns.codes import PushError, status_text
from campaigns.models import PushTask, SmsMessage, TaskStatus
from campaigns.sends import services as send_services
from console.audit import audit_record
from console.exports import csv_response, xlsx_response
from console.models import App, Perm
from console.permissions import app_permission

from . import selectors
from .diagnosis import troubleshoot as diagnose
from .forms import (
    AnalysisForm,
    DeviceQueryForm,
    ExportForm,
    MessageFilterForm,
    ReceiptFilterForm,
    TaskFilterForm,
    TroubleshootForm,
)


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


# ---------------------------------------------------------------- messages


@app_permission(Perm.VIEW)
@require_GET
def message_list(request: HttpRequest, app: App) -> HttpResponse:
    form = MessageFilterForm(request.GET)
    filters = form.filters() if form.is_valid() else {}
    page = selectors.message_list(app=app, cursor=request.GET.get("cursor", ""), **filters)
    context = {"app": app, "form": form, "page": page, "query": _query_without_cursor(request)}
    if filters.get("task_id"):
        context["task"] = selectors.task_get(app=app, task_id=filters["task_id"])
    template = "campaigns/reports/_message_rows.html" if request.htmx else "campaigns/reports/message_list.html"
    return render(request, template, context)


@app_permission(Perm.VIEW)
@require_GET
def message_detail(request: HttpRequest, app: App, message_id: int) -> HttpResponse:
    message = selectors.message_get(app=app, message_id=message_id)
    # The list swaps the fragment in; a link opened on its own gets a whole page.
    template = "campaigns/reports/_message_detail.html" if request.htmx else "campaigns/reports/message_detail.html"
    if message is None:
        response = render(request, template, {"app": app, "missing": True}, status=404)
    else:
        context = {
            "app": app,
            "message": message,
            "status_text": status_text(message.status),
            **_timeline_context(app, message, selectors.message_timeline(message=message)),
            "vendor_message_ids": selectors.vendor_message_ids(message=message),
            "routes": selectors.delivery_routes(message=message),
        }
        response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _timeline_context(app: App, message, page: selectors.TimelinePage, device_id: str = "") -> dict:
    """The timeline page and the address of the next one (narrowed to the same device)."""
    more = ""
    if page.next_cursor:
        query = QueryDict(mutable=True)
        if device_id:
            query["device_id"] = device_id
        query["cursor"] = page.next_cursor
        more = f"{reverse('campaigns:message-timeline', args=[app.app_key, message.pk])}?{query.urlencode()}"
    return {"timeline": page, "timeline_more": more}


@app_permission(Perm.VIEW)
@require_GET
def message_timeline(request: HttpRequest, app: App, message_id: int) -> HttpResponse:
    """The next page of a message's status timeline: rows for the table to append, or a page
    of its own when opened without htmx. With device_id, that device's events only."""
    message = selectors.message_get(app=app, message_id=message_id)
    if message is None:
        raise Http404(_("This message does not exist."))
    cursor = request.GET.get("cursor", "")
    device_id = request.GET.get("device_id", "").strip()
    if device_id:
        _device, own = selectors.delivery_for_device(message=message, device_id=device_id)
        page = selectors.device_timeline(message=message, delivery=own, cursor=cursor)
    else:
        page = selectors.message_timeline(message=message, cursor=cursor)
    context = {"app": app, "message": message, **_timeline_context(app, message, page, device_id)}
    template = "campaigns/reports/_timeline_rows.html" if request.htmx else "campaigns/reports/message_timeline.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# ---------------------------------------------------------------- tasks


def _decorate(task: PushTask) -> PushTask:
    task.progress = selectors.task_progress(task)
    task.running = task.status in selectors.RUNNING_TASK_STATES
    task.stoppable = task.status in send_services.STOPPABLE
    seconds = task.duration()
    task.duration_text = (
        "" if seconds is None else f"{int(seconds) // 3600:d}:{int(seconds) % 3600 // 60:02d}:{int(seconds) % 60:02d}"
    )
    task.sender = (
        task.created_by.get_username() if task.created_by else (f"API {task.api_caller}" if task.api_caller else "")
    )
    return task


@app_permission(Perm.VIEW)
@require_GET
def task_list(request: HttpRequest, app: App) -> HttpResponse:
    form = TaskFilterForm(request.GET)
    filters = form.filters() if form.is_valid() else {}
    page = selectors.task_list(app=app, cursor=request.GET.get("cursor", ""), **filters)
    page.rows = [_decorate(t) for t in page.rows]
    context = {
        "app": app,
        "form": form,
        "page": page,
        "query": _query_without_cursor(request),
        "can_stop": Perm.SEND in request.app_perms,
    }
    template = "campaigns/reports/_task_rows.html" if request.htmx else "campaigns/reports/task_list.html"
    return render(request, template, context)


@app_permission(Perm.VIEW)
@require_GET
def task_progress(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    task = get_object_or_404(
        PushTask.objects.select_related("template_version__template", "created_by"), app=app, pk=task_id
    )
    context = {"app": app, "t": _decorate(task), "can_stop": Perm.SEND in request.app_perms}
    # The row polls itself; a link opened on its own gets a whole page with that row.
    template = "campaigns/reports/_task_row.html" if request.htmx else "campaigns/reports/task_progress.html"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@app_permission(Perm.SEND)
@require_POST
def task_stop(request: HttpRequest, app: App, task_id: int) -> HttpResponse:
    task = get_object_or_404(PushTask, app=app, pk=task_id)
    waiting = task.status in (TaskStatus.SCHEDULED, TaskStatus.AWAITING_APPROVAL)
    try:
        stop = send_services.task_cancel if waiting else send_services.task_stop
        stopped = stop(app=app, task_id=task.pk, actor=request.user, request=request)
    except PushError:
        messages.error(
            request,
            _("Task %(id)s is %(status)s and can no longer be stopped.")
            % {"id": task.pk, "status": task.get_status_display()},
        )
    else:
        messages.success(
            request,
            _("Task %(id)s stopped; %(n)s messages cancelled.") % {"id": task.pk, "n": stopped.cancelled_count},
        )
    return redirect("campaigns:task-list", app_key=app.app_key)


# ---------------------------------------------------------------- devices, records, receipts, troubleshooting


@app_permission(Perm.VIEW)
@require_GET
def device_query(request: HttpRequest, app: App) -> HttpResponse:
    form = DeviceQueryForm(request.GET or None)
    reports = None
    if form.is_valid():
        reports = selectors.device_lookup(
            app=app, user_id=form.cleaned_data["user_id"].strip(), device_id=form.cleaned_data["device_id"].strip()
        )
    context = {"app": app, "form": form, "reports": reports}
    if not request.GET:
        # Before any search: the newest devices, so a person knows what to look for.
        context["recent"] = selectors.recent_devices(app=app)
    return render(request, "campaigns/reports/device_query.html", context)


@app_permission(Perm.VIEW)
@require_GET
def push_records(request: HttpRequest, app: App) -> HttpResponse:
    records, next_cursor = selectors.push_record_list(app=app, cursor=request.GET.get("cursor", ""))
    return render(
        request, "campaigns/reports/push_records.html", {"app": app, "records": records, "next_cursor": next_cursor}
    )


@app_permission(Perm.VIEW)
@require_GET
def receipt_log(request: HttpRequest, app: App) -> HttpResponse:
    form = ReceiptFilterForm(request.GET)
    filters = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "at_from": data["at_from"],
            "at_to": data["at_to"],
            "event": data["event"],
            "device_id": data["device_id"].strip(),
            "message_id": data["message_id"],
        }
    page = selectors.receipt_list(app=app, cursor=request.GET.get("cursor", ""), **filters)
    context = {"app": app, "form": form, "page": page, "query": _query_without_cursor(request)}
    return render(request, "campaigns/reports/receipt_log.html", context)


@app_permission(Perm.VIEW)
@require_GET
def troubleshoot(request: HttpRequest, app: App) -> HttpResponse:
    form = TroubleshootForm(request.GET or None)
    diagnosis = None
    if form.is_valid():
        diagnosis = diagnose(
            app=app, message_ref=form.cleaned_data["message_ref"], device_id=form.cleaned_data["device_id"]
        )
    context = {"app": app, "form": form, "diagnosis": diagnosis}
    if diagnosis is not None and diagnosis.timeline is not None:
        device_id = diagnosis.device.device_id if diagnosis.device else ""
        context |= {
            "message": diagnosis.message,
            **_timeline_context(app, diagnosis.message, diagnosis.timeline, device_id),
        }
    return render(request, "campaigns/reports/troubleshoot.html", context)


SMS_PAGE = 100


@app_permission(Perm.VIEW)
@require_GET
def sms_list(request: HttpRequest, app: App) -> HttpResponse:
    """The fallback SMS sent for this app, newest first, a page at a time."""
    rows = SmsMessage.objects.filter(app=app).select_related("delivery__message", "delivery__device").order_by("-pk")
    before = request.GET.get("before", "")
    if before.isdigit():
        rows = rows.filter(pk__lt=int(before))
    rows = list(rows[: SMS_PAGE + 1])
    older = rows[SMS_PAGE - 1].pk if len(rows) > SMS_PAGE else None
    return render(request, "campaigns/reports/sms_list.html", {"app": app, "rows": rows[:SMS_PAGE], "older": older})


# ---------------------------------------------------------------- usage analysis


def _rate_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _bucket_label(bucket, granularity: str, tz) -> str:
    local = bucket.astimezone(tz)
    # isoformat, not strftime: the same text ("2026-11-30" / "2026-11-30 05:36") at a third of the cost.
    return local.date().isoformat() if granularity == "day" else local.isoformat(" ", "minutes")[:16]


def analysis_table(rows: list[selectors.UsageRow], granularity: str) -> list[dict]:
    """One dict per bucket: the single source of the chart, the table and the export."""
    tz = timezone.get_current_timezone()
    return [
        {
            "label": _bucket_label(r.bucket, granularity, tz),
            "pushed": r.pushed,
            "arrived": r.arrived,
            "arrived_rate": r.arrived_rate,
            "opened": r.opened,
            "opened_rate": r.opened_rate,
            "ignored": r.ignored,
            "ignored_rate": r.ignored_rate,
            "cleared": r.cleared,
        }
        for r in rows
    ]


def _analysis(request: HttpRequest, app: App):
    form = AnalysisForm(request.GET if "start" in request.GET else AnalysisForm.initial_data())
    if not form.is_valid():
        return form, None, None, None, None
    filters = form.filters()
    tz = timezone.get_current_timezone()
    rows = selectors.usage_series(app=app, tz=tz, **filters)
    totals = selectors.usage_totals(rows)
    # The chart spreads over the whole range: buckets without figures are zeros there. The
    # table lists the buckets with figures: the same dicts (up to 1,440 a day by minute),
    # built once.
    filled = selectors.fill_buckets(
        rows, start=filters["start"], end=filters["end"], granularity=filters["granularity"], tz=tz
    )
    series = analysis_table(filled, filters["granularity"])
    with_figures = {r.bucket for r in rows}
    table = [entry for row, entry in zip(filled, series, strict=True) if row.bucket in with_figures]
    funnel = selectors.usage_funnel(app=app, **filters)
    return form, table, totals, funnel, series


def _table_rows_html(table: list[dict]) -> str:
    # Up to 1,440 rows (a day by minute): built here rather than in a template loop, which
    # costs ~10x more. Counts are ints and rates our own "12.50%"/"-" text; only the label
    # is escaped (it is our own date text too, escaped anyway).
    cells = "".join(
        f"<tr><td>{escape(e['label'])}</td><td>{int(e['pushed'])}</td><td>{int(e['arrived'])}</td>"
        f"<td>{_rate_text(e['arrived_rate'])}</td><td>{int(e['opened'])}</td><td>{_rate_text(e['opened_rate'])}</td>"
        f"<td>{int(e['ignored'])}</td><td>{_rate_text(e['ignored_rate'])}</td><td>{int(e['cleared'])}</td></tr>"
        for e in table
    )
    return mark_safe(cells)


@app_permission(Perm.VIEW)
@require_GET
def analysis(request: HttpRequest, app: App) -> HttpResponse:
    form, table, totals, funnel, series = _analysis(request, app)
    context = {"app": app, "form": form, "versions": selectors.app_versions(app=app)}
    if table is not None:
        context.update(
            {
                "table": table,
                "table_rows": _table_rows_html(table),
                "chart": {
                    "labels": [e["label"] for e in series],
                    "counts": {
                        k: [e[k] for e in series] for k in ("pushed", "arrived", "opened", "ignored", "cleared")
                    },
                    "rates": {k: [e[k] for e in series] for k in ("arrived_rate", "opened_rate", "ignored_rate")},
                    "names": {
                        "pushed": _("Pushed"),
                        "arrived": _("Arrived"),
                        "opened": _("Opened"),
                        "ignored": _("Ignored"),
                        "cleared": _("Cleared"),
                        "arrived_rate": _("Arrival rate (%)"),
                        "opened_rate": _("Open rate (%)"),
                        "ignored_rate": _("Ignore rate (%)"),
                    },
                },
                "totals": totals,
                "totals_rates": {
                    "arrived": _rate_text(totals.arrived_rate) if totals else "-",
                    "opened": _rate_text(totals.opened_rate) if totals else "-",
                    "ignored": _rate_text(totals.ignored_rate) if totals else "-",
                },
                "funnel": [
                    {
                        "channel": channel,
                        "row": row,
                        "arrived_rate": _rate_text(row.arrived_rate),
                        "opened_rate": _rate_text(row.opened_rate),
                    }
                    for channel, row in funnel
                ],
                "query": request.GET.urlencode(),
            }
        )
    return render(request, "campaigns/reports/analysis.html", context)


ANALYSIS_HEADER = (
    gettext_lazy("Time"),
    gettext_lazy("Pushed"),
    gettext_lazy("Arrived"),
    gettext_lazy("Arrival rate (%)"),
    gettext_lazy("Opened"),
    gettext_lazy("Open rate (%)"),
    gettext_lazy("Ignored"),
    gettext_lazy("Ignore rate (%)"),
    gettext_lazy("Cleared"),
)


@app_permission(Perm.VIEW)
@require_GET
def analysis_export(request: HttpRequest, app: App) -> HttpResponse:
    form, table, _totals, _funnel, _series = _analysis(request, app)
    if table is None:
        return render(request, "campaigns/reports/analysis.html", {"app": app, "form": form}, status=200)
    audit_record(action="analysis.export", app=app, request=request, summary={"filters": request.GET.dict()})
    header = [str(h) for h in ANALYSIS_HEADER]
    rows = (
        (
            e["label"],
            e["pushed"],
            e["arrived"],
            "-" if e["arrived_rate"] is None else e["arrived_rate"],
            e["opened"],
            "-" if e["opened_rate"] is None else e["opened_rate"],
            e["ignored"],
            "-" if e["ignored_rate"] is None else e["ignored_rate"],
            e["cleared"],
        )
        for e in table
    )
    return xlsx_response(f"usage-{app.app_key}.xlsx", header, rows, sheet=_("Usage analysis"))


# ---------------------------------------------------------------- auditor exports

MESSAGE_HEADER = (
    gettext_lazy("Message id"),
    gettext_lazy("Customer message id"),
    gettext_lazy("Task id"),
    gettext_lazy("Push type"),
    gettext_lazy("Target type"),
    gettext_lazy("Target id"),
    gettext_lazy("Platform"),
    gettext_lazy("Channel"),
    gettext_lazy("Title"),
    gettext_lazy("State"),
    gettext_lazy("Status code"),
    gettext_lazy("Status"),
    gettext_lazy("Last status change"),
    gettext_lazy("Created"),
    gettext_lazy("Expires"),
)
TASK_HEADER = (
    gettext_lazy("Task id"),
    gettext_lazy("Task name"),
    gettext_lazy("Push type"),
    gettext_lazy("Source"),
    gettext_lazy("Template"),
    gettext_lazy("Template version"),
    gettext_lazy("Status"),
    gettext_lazy("Targets"),
    gettext_lazy("Pushed"),
    gettext_lazy("Succeeded"),
    gettext_lazy("Failed"),
    gettext_lazy("Arrived"),
    gettext_lazy("Opened"),
    gettext_lazy("Created"),
    gettext_lazy("Started"),
    gettext_lazy("Finished"),
    gettext_lazy("Sent by"),
)


@app_permission(Perm.EXPORT)
@require_GET
def exports(request: HttpRequest, app: App) -> HttpResponse:
    form = ExportForm(request.GET or None)
    if not form.is_valid():
        return render(request, "campaigns/reports/exports.html", {"app": app, "form": form})
    data = form.cleaned_data
    start, end = form.bounds()
    kind, fmt = data["kind"], data["file_format"]
    audit_record(
        action=f"{kind}.export",
        app=app,
        request=request,
        summary={"from": data["date_from"].isoformat(), "to": data["date_to"].isoformat(), "format": fmt},
    )
    if kind == "messages":
        header, rows = MESSAGE_HEADER, selectors.message_export_rows(app=app, start=start, end=end)
    else:
        header, rows = TASK_HEADER, selectors.task_export_rows(app=app, start=start, end=end)
    filename = f"{kind}-{app.app_key}-{data['date_from']:%Y%m%d}-{data['date_to']:%Y%m%d}"
    header = [str(h) for h in header]
    if fmt == "csv":
        return csv_response(f"{filename}.csv", header, rows)
    return xlsx_response(f"{filename}.xlsx", header, rows, sheet=kind)
