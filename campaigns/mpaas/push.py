"""The push actions of 2020-10-28: PushSimple, PushTemplate, PushMultiple, PushBroadcast, RevokePushTask,
QueryPushSchedulerList, QueryMpsSchedulerList and CancelPushScheduler.

Each send is built by the native API's own builders (campaigns.sends.api) from the SDK's
fields, so both doors apply the same rules and codes. `PushResult.Data` is the task id,
which RevokePushTask, the analysis queries and the scheduler actions take back.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from django.db import transaction

from campaigns.models import Message, PushTask, PushType, TargetType, TaskStatus
from console.acs.door import Call
from console.apicodes import ApiCode, PushError
from console.audit import audit_record
from console.models import Perm

from ..sends import api as native_api
from ..sends import services
from .common import (
    PUSH_SHAPE,
    RESULT_SHAPE,
    app_of,
    as_int,
    check_fields,
    from_millis,
    millis,
    mpaas_action,
    native,
    ok,
)

# SDK field -> native API field, for the fields every send shares.
COMMON_FIELDS = {
    "TaskName": "taskName",
    "DeliveryType": "deliveryType",
    "ExpiredSeconds": "expiredSeconds",
    "ExtendedParams": "extendedParams",
    "Silent": "silent",
}
# Fields of the SDK models that Pushdeck cannot honour: refused by name when set.
UNSUPPORTED = (
    "ActivityContentState",
    "ActivityEvent",
    "ChannelId",
    "Classification",
    "DismissalDate",
    "MiChannelId",
    "NotifyLevel",
    "NotifyType",
    "SmsSignName",
    "SmsStrategy",
    "SmsTemplateCode",
    "SmsTemplateParam",
    "ThirdChannelCategory",
    "TransparentMessagePayload",
    "TransparentMessageUrgency",
    "VendorTemplate",
    "IconUrls",
    "ImageUrls",
    "PushStyle",
    "BindPeriod",
    "BindStartTime",
    "BindEndTime",
    "UnBindStartTime",
    "UnBindEndTime",
    "TimeMode",
)
# A template send takes its click action from the template.
TEMPLATE_UNSUPPORTED = (*UNSUPPORTED, "PushAction")
STRATEGY = ("StrategyType", "StrategyContent")
# mPaaS numbers of the push types (scheduler and analysis answers).
TYPE_NUMBERS = {PushType.SIMPLE: 0, PushType.TEMPLATE: 1, PushType.MULTIPLE: 2, PushType.BROADCAST: 3}
DELIVERY_NUMBERS = {TargetType.ANDROID_DEVICE: 1, TargetType.IOS_DEVICE: 2, TargetType.USER: 3}


def _schedule(call: Call, data: dict) -> None:
    """StrategyType 0 (or none) sends now; 1 with StrategyContent {"fixedTime": ms} schedules it."""
    kind = as_int(call, "StrategyType", 0)
    if kind == 0:
        if call.get("StrategyContent"):
            raise PushError(ApiCode.INVALID_PARAM, "StrategyContent is only for StrategyType 1")
        return
    if kind != 1:
        raise PushError(ApiCode.INVALID_PARAM, "StrategyType 2 (recurring sends) is not supported by Pushdeck")
    try:
        content = json.loads(call.get("StrategyContent") or "")
        at = datetime.fromtimestamp(int(content["fixedTime"]) / 1000, tz=UTC)
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        raise PushError(ApiCode.INVALID_PARAM, 'StrategyType 1 needs StrategyContent {"fixedTime": <ms>}') from None
    data["pushTime"] = at.isoformat()


def _pushed(call: Call, app, data: dict, spec) -> dict:
    task, _created = native_api.submit(
        call.request, app, data, spec, caller=f"ak:{call.access_key.access_key_id}", actor=call.user
    )
    return ok(PUSH_SHAPE, PushResult={"Success": True, "ResultMsg": "", "Data": str(task.pk)})


@mpaas_action("PushSimple", PUSH_SHAPE)
def push_simple(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    fields = {**COMMON_FIELDS, "PushAction": "pushAction", "TargetMsgkey": "targetMsgkey", "Title": "title"}
    fields.update({"Content": "content", "Uri": "uri"})
    check_fields(call, used=[*fields, *STRATEGY], refused=UNSUPPORTED)
    data = native(call, fields)
    _schedule(call, data)
    return _pushed(call, app, data, native_api.simple_spec(data))


@mpaas_action("PushTemplate", PUSH_SHAPE)
def push_template(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    fields = {**COMMON_FIELDS, "TargetMsgkey": "targetMsgkey", "TemplateName": "templateName"}
    fields["TemplateKeyValue"] = "templateKeyValue"
    check_fields(call, used=[*fields, *STRATEGY], refused=TEMPLATE_UNSUPPORTED)
    data = native(call, fields)
    _schedule(call, data)
    return _pushed(call, app, data, native_api.template_spec(app, data))


_ROW = re.compile(r"^TargetMsg\.(\d+)\.(\w+)$")
ROW_FIELDS = {"Target": "target", "MsgKey": "msgKey", "TemplateKeyValue": "templateKeyValue"}
ROW_FIELDS["ExtendedParams"] = "extendedParams"


def _target_msgs(call: Call) -> list[dict]:
    rows: dict[int, dict] = {}
    for name, value in call.params.items():
        match = _ROW.match(name)
        if match is None:
            continue
        index, field = int(match.group(1)), match.group(2)
        if field not in ROW_FIELDS:
            raise PushError(ApiCode.INVALID_PARAM, f"unknown field {name[:64]}")
        rows.setdefault(index, {})[ROW_FIELDS[field]] = value
    return [rows[i] for i in sorted(rows)]


@mpaas_action("PushMultiple", PUSH_SHAPE)
def push_multiple(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    fields = {**COMMON_FIELDS, "TemplateName": "templateName"}
    check_fields(call, used=[*fields, *STRATEGY], refused=TEMPLATE_UNSUPPORTED, prefixes=("TargetMsg.",))
    data = native(call, fields)
    data["targetMsg"] = _target_msgs(call)
    _schedule(call, data)
    return _pushed(call, app, data, native_api.multiple_spec(app, data))


@mpaas_action("PushBroadcast", PUSH_SHAPE)
def push_broadcast(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    fields = {**COMMON_FIELDS, "TemplateName": "templateName", "TemplateKeyValue": "templateKeyValue"}
    fields.update({"Msgkey": "msgkey", "PushStatus": "pushStatus", "UnBindPeriod": "unBindPeriod"})
    fields["AndroidChannel"] = "androidChannel"
    check_fields(call, used=[*fields, *STRATEGY], refused=TEMPLATE_UNSUPPORTED)
    data = native(call, fields)
    _schedule(call, data)
    return _pushed(call, app, data, native_api.broadcast_spec(app, data))


@mpaas_action("RevokePushTask", PUSH_SHAPE)
def revoke_push_task(call: Call) -> dict:
    """Stops a send: every message not yet handed to a gateway is cancelled (a scheduled one never starts).

    Messages a gateway already accepted cannot be called back from the phones."""
    app = app_of(call, Perm.SEND)
    check_fields(call, used=["TaskId"])
    task_id = as_int(call, "TaskId", required=True)
    waiting = PushTask.objects.filter(
        app=app, pk=task_id, status__in=(TaskStatus.SCHEDULED, TaskStatus.AWAITING_APPROVAL)
    ).exists()
    end = services.task_cancel if waiting else services.task_stop
    task = end(app=app, task_id=task_id, actor=call.user, request=call.request)
    return ok(PUSH_SHAPE, PushResult={"Success": True, "ResultMsg": "", "Data": str(task.cancelled_count)})


def _scheduler_rows(app, call: Call) -> dict:
    start, end = from_millis(call, "StartTime"), from_millis(call, "EndTime")
    kind, unique_id = as_int(call, "Type"), call.get("UniqueId") or ""
    page, size = as_int(call, "PageNumber", 1), as_int(call, "PageSize", 10)
    if page < 1 or not 1 <= size <= 100:
        raise PushError(ApiCode.INVALID_PARAM, "PageNumber is at least 1 and PageSize 1 to 100")
    qs = PushTask.objects.filter(app=app, scheduled_at__isnull=False).select_related("template_version")
    if start is not None:
        qs = qs.filter(scheduled_at__gte=start)
    if end is not None:
        qs = qs.filter(scheduled_at__lt=end)
    if kind is not None:
        names = [t for t, n in TYPE_NUMBERS.items() if n == kind]
        qs = qs.filter(push_type__in=names)
    if unique_id:
        qs = qs.filter(pk=int(unique_id) if unique_id.isdigit() else -1)
    total = qs.count()
    tasks = list(qs.order_by("-scheduled_at", "-pk")[(page - 1) * size : page * size])
    firsts = {
        m.task_id: m for m in Message.objects.filter(task__in=tasks).order_by("task_id", "pk").distinct("task_id")
    }
    rows = []
    for task in tasks:
        first = firsts.get(task.pk)
        rows.append(
            {
                "UniqueId": str(task.pk),
                "ParentId": "",
                "PushTime": millis(task.scheduled_at),
                "GmtCreate": millis(task.created_at),
                "PushTitle": first.title if first else "",
                "PushContent": first.body if first else "",
                "Type": TYPE_NUMBERS.get(task.push_type, 0),
                "DeliveryType": _delivery_number(task, first),
                "StrategyType": 1,
                "CreateType": 1 if task.source == "api" else 0,
                "ExecutedStatus": _executed(task),
            }
        )
    return {"TotalCount": total, "List": rows}


def _delivery_number(task: PushTask, first) -> int:
    if first is not None and first.target_type in DELIVERY_NUMBERS:
        return DELIVERY_NUMBERS[first.target_type]
    return 2 if (task.params or {}).get("platform") == "ios" else 1


def _executed(task: PushTask) -> str:
    """0 waiting, 1 sent (or sending), 2 cancelled."""
    if task.status in (TaskStatus.SCHEDULED, TaskStatus.AWAITING_APPROVAL):
        return "0"
    if task.status in (TaskStatus.CANCELLED, TaskStatus.REJECTED):
        return "2"
    return "1"


SCHEDULER_FIELDS = ["StartTime", "EndTime", "Type", "UniqueId", "PageNumber", "PageSize"]


@mpaas_action("QueryPushSchedulerList", RESULT_SHAPE)
def query_push_scheduler_list(call: Call) -> dict:
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=SCHEDULER_FIELDS)
    return ok(RESULT_SHAPE, ResultContent={"Data": _scheduler_rows(app, call)})


@mpaas_action("QueryMpsSchedulerList", RESULT_SHAPE)
def query_mps_scheduler_list(call: Call) -> dict:
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=SCHEDULER_FIELDS)
    return ok(RESULT_SHAPE, ResultContent={"Data": _scheduler_rows(app, call)})


@mpaas_action("CancelPushScheduler", RESULT_SHAPE)
def cancel_push_scheduler(call: Call) -> dict:
    """Cancels scheduled sends by their ids (UniqueIds, comma-separated): all of them or none."""
    app = app_of(call, Perm.SEND)
    check_fields(call, used=["UniqueIds", "Type"])
    if as_int(call, "Type", 0) != 0:
        raise PushError(ApiCode.INVALID_PARAM, "Type 0 (by the ids of scheduled sends) is the only one Pushdeck has")
    raw = [part.strip() for part in (call.get("UniqueIds") or "").split(",") if part.strip()]
    if not raw or len(raw) > 100 or not all(part.isdigit() for part in raw):
        raise PushError(ApiCode.INVALID_PARAM, "UniqueIds is 1 to 100 comma-separated task ids")
    with transaction.atomic():
        for task_id in dict.fromkeys(int(part) for part in raw):
            services.task_cancel(app=app, task_id=task_id, actor=call.user, request=call.request)
    return ok(RESULT_SHAPE, ResultContent=str(len(set(raw))))


@mpaas_action("RevokePushMessage", PUSH_SHAPE)
def revoke_push_message(call: Call) -> dict:
    """Cancels one message not yet delivered: MessageId is its msgKey, TargetId its target."""
    from campaigns.delivery.dispatch import message_revoke

    app = app_of(call, Perm.SEND)
    check_fields(call, used=["MessageId", "TargetId"])
    msg_key, target = call.get("MessageId") or "", call.get("TargetId") or ""
    if not msg_key or not target:
        raise PushError(ApiCode.INVALID_PARAM, "MessageId (the msgKey) and TargetId are required")
    message = Message.objects.filter(app=app, customer_msg_id=msg_key[:64], target_id=target[:128]).first()
    if message is None:
        raise PushError(ApiCode.INVALID_PARAM, "no message with this MessageId and TargetId")
    if not message_revoke(message_id=message.pk):
        raise PushError(ApiCode.INVALID_PARAM, "the message has already ended (delivered, failed or expired)")
    audit_record(
        action="send.revoke",
        actor=call.user,
        actor_label=call.actor_label,
        app=app,
        target=f"message {message.pk}",
        request=call.request,
    )
    return ok(PUSH_SHAPE, PushResult={"Success": True, "ResultMsg": "", "Data": str(message.pk)})
