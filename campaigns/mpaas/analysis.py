"""Analysis actions of 2020-10-28: QueryPushAnalysisCoreIndex, QueryPushAnalysisTaskList and
QueryPushAnalysisTaskDetail, read from the task counters and usage rollups the console shows."""

from __future__ import annotations

from datetime import timedelta

from campaigns.models import PushTask, PushType
from campaigns.reports import selectors as reports
from console.acs.door import Call
from console.apicodes import ApiCode, PushError
from console.models import Perm

from .common import RESULT_SHAPE, app_of, as_int, check_fields, from_millis, millis, mpaas_action, ok
from .push import TYPE_NUMBERS

CHANNELS = {"": "", "self": "selfbuilt", "selfbuilt": "selfbuilt", "apns": "apns", "fcm": "fcm"}
CHANNELS.update({v: v for v in ("huawei", "xiaomi", "oppo", "vivo", "honor", "meizu")})
TYPE_NAMES = {str(n): t for t, n in TYPE_NUMBERS.items()} | {t.lower(): t for t in TYPE_NUMBERS}


def _rates(pushed: float, arrived: float, opened: float, ignored: float, selfbuilt_arrived: float) -> dict:
    def rate(part, whole):
        return round(part * 100 / whole, 2) if whole else 0.0

    return {
        "PushNum": float(pushed),
        "PushTotalNum": float(pushed),
        "ArrivalNum": float(arrived),
        "ArrivalRate": rate(arrived, pushed),
        "OpenNum": float(opened),
        "OpenRate": rate(opened, arrived),
        "IgnoreNum": float(ignored),
        "IgnoreRate": rate(ignored, selfbuilt_arrived),
    }


@mpaas_action("QueryPushAnalysisCoreIndex", RESULT_SHAPE)
def query_core_index(call: Call) -> dict:
    """Pushed, arrived, opened and ignored over StartTime..EndTime (ms, at most 90 days), or of one TaskId."""
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=["StartTime", "EndTime", "Platform", "Channel", "Type", "TaskId"])
    start, end = from_millis(call, "StartTime", required=True), from_millis(call, "EndTime", required=True)
    if end <= start or end - start > timedelta(days=90):
        raise PushError(ApiCode.INVALID_PARAM, "EndTime is after StartTime, at most 90 days later")
    task_id = call.get("TaskId") or ""
    if task_id:
        task = PushTask.objects.filter(app=app, pk=int(task_id) if task_id.isdigit() else -1).first()
        if task is None:
            raise PushError(ApiCode.INVALID_PARAM, "no such TaskId")
        figures = _rates(task.pushed, task.arrived, task.opened, 0, 0)
        return ok(RESULT_SHAPE, ResultContent={"Data": figures})
    platform = (call.get("Platform") or "").lower()
    channel = (call.get("Channel") or "").lower()
    push_type = (call.get("Type") or "").lower()
    if platform not in ("", "android", "ios"):
        raise PushError(ApiCode.INVALID_PARAM, "Platform is android or ios")
    if channel not in CHANNELS:
        raise PushError(ApiCode.INVALID_PARAM, "Channel is self, apns, fcm or a vendor name")
    if push_type and push_type not in TYPE_NAMES:
        raise PushError(ApiCode.INVALID_PARAM, "Type is 0-3 or SIMPLE, TEMPLATE, MULTIPLE, BROADCAST")
    rows = reports.usage_funnel(
        app=app,
        start=start,
        end=end,
        granularity="hour",
        platform=platform,
        channel=CHANNELS[channel],
        push_type=TYPE_NAMES.get(push_type, ""),
    )
    total = reports.usage_totals([row for _channel, row in rows])
    if total is None:
        figures = _rates(0, 0, 0, 0, 0)
    else:
        figures = _rates(total.pushed, total.arrived, total.opened, total.ignored, total.selfbuilt_arrived)
    return ok(RESULT_SHAPE, ResultContent={"Data": figures})


def _task_row(task: PushTask) -> dict:
    template = task.template_version
    return {
        "TaskId": str(task.pk),
        "TaskName": task.name,
        "TemplateId": str(template.template_id) if template else "",
        "TemplateName": template.template.name if template else "",
        "Type": TYPE_NUMBERS.get(task.push_type, 0),
        "GmtCreate": millis(task.created_at),
    }


@mpaas_action("QueryPushAnalysisTaskList", RESULT_SHAPE)
def query_task_list(call: Call) -> dict:
    """Multiple and broadcast tasks created since StartTime (ms), newest first, as the task list shows them."""
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=["StartTime", "TaskId", "TaskName", "PageNumber", "PageSize"])
    start = from_millis(call, "StartTime", required=True)
    page, size = as_int(call, "PageNumber", 1), as_int(call, "PageSize", 20)
    if page < 1 or not 1 <= size <= 100:
        raise PushError(ApiCode.INVALID_PARAM, "PageNumber is at least 1 and PageSize 1 to 100")
    qs = PushTask.objects.filter(
        app=app, created_at__gte=start, push_type__in=(PushType.MULTIPLE, PushType.BROADCAST)
    ).select_related("template_version__template")
    task_id, name = call.get("TaskId") or "", call.get("TaskName") or ""
    if task_id:
        qs = qs.filter(pk=int(task_id) if task_id.isdigit() else -1)
    if name:
        qs = qs.filter(name__icontains=name[:200])
    tasks = qs.order_by("-created_at", "-pk")[(page - 1) * size : page * size]
    return ok(RESULT_SHAPE, ResultContent={"Data": [{**_task_row(t), "List": []} for t in tasks]})


@mpaas_action("QueryPushAnalysisTaskDetail", RESULT_SHAPE)
def query_task_detail(call: Call) -> dict:
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=["TaskId"])
    task_id = as_int(call, "TaskId", required=True)
    task = PushTask.objects.filter(app=app, pk=task_id).first()
    if task is None:
        raise PushError(ApiCode.INVALID_PARAM, "no such TaskId")
    duration = ""
    if task.started_at and task.finished_at:
        duration = str(int((task.finished_at - task.started_at).total_seconds()))
    return ok(
        RESULT_SHAPE,
        ResultContent={
            "Data": {
                "TaskId": task.pk,
                "PushNum": float(task.pushed),
                "PushSuccessNum": float(task.succeeded),
                "PushArrivalNum": float(task.arrived),
                "StartTime": millis(task.started_at),
                "EndTime": millis(task.finished_at),
                "Duration": duration,
            }
        },
    )
