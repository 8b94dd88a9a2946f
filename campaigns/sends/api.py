"""Server API for sends: POST /api/v1/push/simple|template|multiple|broadcast|continuous.

Signed with @signed_api("server"). Field names follow the SPEC (taskName, deliveryType,
targetMsgkey, expiredSeconds, templateName, templateKeyValue, extendedParams,
pushAction, uri, silent, unBindPeriod, targetMsg, msgkey, idempotentToken).

Rate limits, source allowlists and size limits are enforced for every signed server
call by console/apisign.py (see console/security/api.py). The four sends end in one INSERT
that checks the app configuration's generation, so they trust the configuration the process
keeps instead of reading the generation first (console/appcache.py).
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.utils.dateparse import parse_datetime

from campaigns.codes import ApiCode, PushError
from campaigns.models import Message, PushTask, PushType, TargetType, TaskStatus
from console import appcache
from console.apisign import signed_api
from console.audit import audit_record
from console.models import App
from templates_app.models import Template

from . import rules, services

DELIVERY_TYPES = {1: TargetType.ANDROID_DEVICE, 2: TargetType.IOS_DEVICE, 3: TargetType.USER}
GROUP_TARGETS = {
    "all": TargetType.ALL,
    "tag": TargetType.TAG,
    "account": TargetType.ACCOUNT,
    "alias": TargetType.ALIAS,
    "device": TargetType.DEVICE,
}


def _json_field(data: dict, name: str, default):
    """Some fields may come as a JSON object or as a JSON string of one (as the old consoles sent them)."""
    value = data.get(name, default)
    if isinstance(value, str):
        if not value.strip():
            return default
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise PushError(ApiCode.INVALID_PARAM, f"{name} is not valid JSON") from None
    return value


def _int(data: dict, name: str, default=None, code: ApiCode = ApiCode.INVALID_PARAM):
    value = data.get(name, default)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PushError(code, f"{name} must be a number") from None


def _text(data: dict, name: str) -> str:
    """A text field: a string (or a number, as some callers send ids); anything else is refused."""
    value = data.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PushError(ApiCode.INVALID_PARAM, f"{name} must be a string")
    return str(value)


def _template(app: App, data: dict):
    name = _text(data, "templateName").strip()
    if not name:
        raise PushError(ApiCode.NEED_TEMPLATE, "templateName is required")
    template = Template.objects.live().filter(app=app, name=name).select_related("current_version").first()
    if template is None or template.current_version is None:
        raise PushError(ApiCode.TEMPLATE_NOT_EXIST, f"no template named {name}")
    return template.current_version


# Fields each send endpoint reads; any other field is refused by name (never dropped silently).
COMMON_FIELDS = frozenset(
    {"appId", "taskName", "deliveryType", "expiredSeconds", "extendedParams", "silent", "androidChannel", "pushTime"}
) | {"idempotentToken"}
SIMPLE_FIELDS = COMMON_FIELDS | {"targetMsgkey", "title", "content", "body", "pushAction", "uri"}
TEMPLATE_FIELDS = COMMON_FIELDS | {"targetMsgkey", "templateName", "templateKeyValue"}
MULTIPLE_FIELDS = COMMON_FIELDS | {"targetMsg", "templateName"}
BROADCAST_FIELDS = COMMON_FIELDS | {
    "templateName",
    "templateKeyValue",
    "msgkey",
    "target",
    "targetValue",
    "pushStatus",
    "unBindPeriod",
}
CONTINUOUS_FIELDS = COMMON_FIELDS | {
    "messageId",
    "target",
    "targetValue",
    "templateName",
    "templateKeyValue",
    "title",
    "content",
    "body",
}


def only_fields(data: dict, allowed: frozenset[str] | set[str]) -> None:
    """Refuse, by name, a field the endpoint does not read (a misspelt one would else vanish)."""
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise PushError(ApiCode.INVALID_PARAM, "unknown field: " + ", ".join(u[:64] for u in unknown[:5]))


def _task_name(data: dict) -> str:
    name = str(data.get("taskName") or "").strip()
    if not name:
        raise PushError(ApiCode.TASKNAME_NULL, "taskName is required")
    if len(name) > 200:
        raise PushError(ApiCode.INVALID_PARAM, "taskName is at most 200 characters")
    return name


def _content(data: dict) -> str:
    """The notification text: `content` as in the SPEC (`body` is accepted too, not both)."""
    if data.get("content") not in (None, "") and data.get("body") not in (None, ""):
        raise PushError(ApiCode.INVALID_PARAM, "give content or body, not both")
    return str(data.get("content") or data.get("body") or "")


def _push_action(data: dict) -> int:
    action = _int(data, "pushAction", 1)
    if action not in (0, 1):
        raise PushError(ApiCode.INVALID_PARAM, "pushAction is 0 (web URL) or 1 (activity)")
    return action


def _common(data: dict, spec: services.SendSpec, *, named: bool = True) -> None:
    spec.name = _task_name(data) if named else str(data.get("taskName") or "")[:200]
    spec.expire_seconds = _int(data, "expiredSeconds", rules.EXPIRE_DEFAULT_SECONDS, ApiCode.EXPIREDSECONDS_WRONG)
    extras = _json_field(data, "extendedParams", {})
    spec.extras = rules.check_extras(extras if isinstance(extras, dict) else {"": ""})
    silent = data.get("silent")
    if silent in (True, 1, "1", "true"):
        spec.display_type = "silent"
    channel = _int(data, "androidChannel", 0)
    if channel not in (0, 1):
        raise PushError(ApiCode.ANDROID_CHANNEL_PARAM_INVALID, "androidChannel is 0 (vendor when configured) or 1")
    spec.channel = "selfbuilt" if channel == 1 else "auto"
    push_time = data.get("pushTime")
    if push_time:
        at = parse_datetime(str(push_time))
        if at is None or at.tzinfo is None:
            raise PushError(ApiCode.INVALID_PARAM, "pushTime is an ISO 8601 time with an offset")
        spec.scheduled_at = at


def _delivery_type(data: dict) -> str:
    value = _int(data, "deliveryType", None, ApiCode.DELIVERY_TYPE_NOT_SUPPORTED)
    if value is None:
        raise PushError(ApiCode.DELIVERY_TYPE_NOT_SUPPORTED, "deliveryType is required")
    if value not in DELIVERY_TYPES:
        raise PushError(ApiCode.DELIVERY_TYPE_NOT_SUPPORTED, "deliveryType is 1, 2 or 3")
    return DELIVERY_TYPES[value]


def _target_msgkeys(data: dict) -> list[tuple[str, str]]:
    mapping = _json_field(data, "targetMsgkey", {})
    if not isinstance(mapping, dict) or not mapping:
        raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "targetMsgkey maps each target to its msgKey")
    if len(mapping) > rules.SINGLE_PUSH_MAX_TARGETS:
        raise PushError(ApiCode.SINGLE_PUSH_TARGET_TOO_MUCH, "at most 10 targets")
    return [(str(k), rules.check_customer_msg_id(str(v))) for k, v in mapping.items()]


def _result(task: PushTask, created: bool) -> dict:
    msg_ids = getattr(task, "created_message_ids", None)
    if msg_ids is None or len(msg_ids) > 400:
        msg_ids = dict(Message.objects.filter(task=task).values_list("customer_msg_id", "pk")[:400])
    result = {
        "taskId": task.pk,
        "status": task.status,
        "messageIds": {cmid: str(pk) for cmid, pk in msg_ids.items()},
        "targets": task.target_count,
        "duplicate": not created,
    }
    notes = (task.params or {}).get("vendor_notes") or []
    if notes:
        # vendor limits smaller than asked (vivo keeps a message one day at most, ...): said, never silent
        result["vendorNotes"] = [{**note, "text": rules.vendor_note_text(note)} for note in notes]
    return {"pushResult": result}


def submit(
    request: HttpRequest, app: App, data: dict, spec: services.SendSpec, *, caller: str = "", actor=None
) -> tuple[PushTask, bool]:
    """Save and queue a send built by any door; `caller` names the API caller in the task and the audit."""
    token = data.get("idempotentToken")
    key = f"api:{str(token)[:120]}" if token else None
    caller = caller or f"api:{app.app_key}"
    task, created = services.send_submit(
        app=app, spec=spec, source="api", actor=actor, api_caller=caller, idempotency_key=key, request=request
    )
    if not created:
        audit_record(
            action="api.push.repeat",
            actor=actor,
            actor_label=caller,
            app=app,
            target=f"task {task.pk}",
            summary={"push_type": spec.push_type},
            request=request,
        )
    return task, created


def _submit(request: HttpRequest, app: App, data: dict, spec: services.SendSpec) -> dict | JsonResponse:
    return _result(*submit(request, app, data, spec))


def _guard(view):
    """Audit refused pushes (the signature, allowlist and rate limit are checked before)."""

    def inner(request, *, app, data):
        try:
            if data.get("appId") not in (None, "") and str(data["appId"]) != app.app_key:
                raise PushError(ApiCode.APPID_WRONG, "appId does not name the calling app")
            return view(request, app=app, data=data)
        except PushError as error:
            appcache.confirm(app)  # refused under the current configuration only (else answered again)
            audit_record(
                action="api.push.refused",
                actor_label=f"api:{app.app_key}",
                app=app,
                target=request.path,
                summary={"code": int(error.code), "detail": error.message[:200]},
                request=request,
            )
            raise

    inner.__name__ = view.__name__
    inner.__doc__ = view.__doc__
    return inner


def simple_spec(data: dict) -> services.SendSpec:
    """PushSimple's fields (as the native API names them) as a send, every rule checked."""
    only_fields(data, SIMPLE_FIELDS)
    spec = services.SendSpec(push_type=PushType.SIMPLE, target_type=_delivery_type(data))
    spec.targets = _target_msgkeys(data)
    spec.title, spec.body = str(data.get("title") or ""), _content(data)
    action = _push_action(data)
    spec.click_action = "open_url" if action == 0 else "open_app"
    if action == 0:
        spec.url = str(data.get("uri") or "")
        if not spec.url:
            raise PushError(ApiCode.INVALID_PARAM, "pushAction 0 needs uri")
    else:
        spec.activity = str(data.get("uri") or "")
    _common(data, spec)
    return spec


@signed_api("server", trust_kept=True)
@_guard
def push_simple(request: HttpRequest, *, app: App, data: dict):
    """PushSimple: literal title/body to at most 10 targets."""
    return _submit(request, app, data, simple_spec(data))


def template_spec(app: App, data: dict) -> services.SendSpec:
    """PushTemplate: a template plus a value for every placeholder, at most 10 targets."""
    only_fields(data, TEMPLATE_FIELDS)
    spec = services.SendSpec(push_type=PushType.TEMPLATE, target_type=_delivery_type(data))
    spec.template_version = _template(app, data)
    spec.targets = _target_msgkeys(data)
    spec.values = _json_field(data, "templateKeyValue", {}) or {}
    if not isinstance(spec.values, dict):
        raise PushError(ApiCode.INVALID_PARAM, "templateKeyValue is an object")
    _common(data, spec)
    return spec


@signed_api("server", trust_kept=True)
@_guard
def push_template(request: HttpRequest, *, app: App, data: dict):
    """PushTemplate: a template plus a value for every placeholder, at most 10 targets."""
    return _submit(request, app, data, template_spec(app, data))


MULTIPLE_ROW_FIELDS = frozenset({"target", "msgKey", "templateKeyValue", "extendedParams"})


def multiple_spec(app: App, data: dict) -> services.SendSpec:
    """PushMultiple: one template, up to 400 target messages each with its own values."""
    only_fields(data, MULTIPLE_FIELDS)
    spec = services.SendSpec(push_type=PushType.MULTIPLE, target_type=_delivery_type(data))
    spec.template_version = _template(app, data)
    rows = _json_field(data, "targetMsg", [])
    if not isinstance(rows, list) or not rows:
        raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "targetMsg is a list of target messages")
    if len(rows) > rules.MULTIPLE_API_MAX_TARGETS:
        raise PushError(ApiCode.MULTIPLE_TARGET_NUMBER_TOO_MUCH, "at most 400 target messages per call")
    for row in rows:
        if not isinstance(row, dict) or not row.get("target"):
            raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "every target message needs target")
        only_fields(row, MULTIPLE_ROW_FIELDS)
        cmid = rules.check_customer_msg_id(str(row.get("msgKey") or ""))
        spec.targets.append((str(row["target"]), cmid))
        values = _json_field(row, "templateKeyValue", {}) or {}
        extras = _json_field(row, "extendedParams", {}) or {}
        if not isinstance(values, dict) or not isinstance(extras, dict):
            raise PushError(ApiCode.INVALID_PARAM, "templateKeyValue and extendedParams are objects")
        spec.row_values[cmid] = values
        spec.row_extras[cmid] = extras
    _common(data, spec)
    return spec


@signed_api("server", trust_kept=True)
@_guard
def push_multiple(request: HttpRequest, *, app: App, data: dict):
    """PushMultiple: one template, up to 400 target messages each with its own values."""
    return _submit(request, app, data, multiple_spec(app, data))


def broadcast_unbind_period(data: dict) -> int:
    """pushStatus 0 (bound users, the default) or 1 (also unbound users, within unBindPeriod 1-4:
    7 / 15 / 60 days / ever). Answered in the send's own scale: 1 logged in only, 2-5 the periods."""
    status = _int(data, "pushStatus", 0)
    if status not in (0, 1):
        raise PushError(ApiCode.INVALID_PARAM, "pushStatus is 0 (bound users) or 1 (also unbound users)")
    period = data.get("unBindPeriod")
    if status == 0:
        if period not in (None, ""):
            raise PushError(ApiCode.INVALID_PARAM, "unBindPeriod is only for pushStatus 1")
        return 1
    if period in (None, ""):
        raise PushError(ApiCode.BROADCAST_ALL_USER_NEED_UNBIND_PERIOD, "pushStatus 1 needs unBindPeriod")
    period = _int(data, "unBindPeriod", None, ApiCode.BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID)
    if period not in (1, 2, 3, 4):
        raise PushError(ApiCode.BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID, "unBindPeriod is 1 to 4")
    return period + 1


def _broadcast_spec(app: App, data: dict, push_type: str) -> services.SendSpec:
    delivery = _int(data, "deliveryType", None, ApiCode.DELIVERY_TYPE_NOT_SUPPORTED)
    if delivery not in (1, 2):
        raise PushError(ApiCode.BROADCAST_ONLY_SUPPORT_BY_DEVICE, "a broadcast goes to Android (1) or iOS (2) devices")
    target = str(data.get("target") or "all")
    if target not in ("all", "tag", "account", "alias"):
        raise PushError(ApiCode.INVALID_PARAM, "target is all, tag, account or alias")
    spec = services.SendSpec(push_type=push_type, target_type=GROUP_TARGETS[target])
    spec.platform = "android" if delivery == 1 else "ios"
    spec.unbind_period = broadcast_unbind_period(data)
    if target == "tag":
        spec.tag_expression = _json_field(data, "targetValue", None)
        from campaigns.audience import tag_q

        tag_q(spec.tag_expression)
    elif target != "all":
        values = _json_field(data, "targetValue", [])
        if not isinstance(values, list):
            raise PushError(ApiCode.INVALID_PARAM, "targetValue is a list")
        spec.target_values = [str(v) for v in values]
    spec.customer_msg_id = str(data.get("msgkey") or "") or rules.new_customer_msg_id()
    return spec


def broadcast_spec(app: App, data: dict) -> services.SendSpec:
    """PushBroadcast: a template plus values to every device of one platform (or a tag / accounts / aliases)."""
    only_fields(data, BROADCAST_FIELDS)
    spec = _broadcast_spec(app, data, PushType.BROADCAST)
    spec.template_version = _template(app, data)
    spec.values = _json_field(data, "templateKeyValue", {}) or {}
    _common(data, spec)
    return spec


@signed_api("server", trust_kept=True)
@_guard
def push_broadcast(request: HttpRequest, *, app: App, data: dict):
    """PushBroadcast: a template plus values to every device of one platform (or a tag / accounts / aliases)."""
    return _submit(request, app, data, broadcast_spec(app, data))


@signed_api("server")
@_guard
def push_continuous(request: HttpRequest, *, app: App, data: dict):
    """Continuous push: without messageId create the message; with it, push it to one more batch."""
    only_fields(data, CONTINUOUS_FIELDS)
    message_id = data.get("messageId")
    caller = f"api:{app.app_key}"
    if message_id in (None, ""):
        spec = services.SendSpec(push_type=PushType.CONTINUOUS, target_type=TargetType.DEVICE)
        if data.get("templateName"):
            spec.template_version = _template(app, data)
            spec.values = _json_field(data, "templateKeyValue", {}) or {}
        else:
            spec.title, spec.body = str(data.get("title") or ""), _content(data)
        _common(data, spec, named=False)
        task, created = services.continuous_create(
            app=app, spec=spec, api_caller=caller, request=request, idempotency_key=_key(data)
        )
        return {"pushResult": {"messageId": task.pk, "duplicate": not created}}
    target = str(data.get("target") or "device")
    if target not in ("device", "account", "alias"):
        raise PushError(ApiCode.INVALID_PARAM, "target is device, account or alias")
    values = _json_field(data, "targetValue", [])
    if not isinstance(values, list):
        raise PushError(ApiCode.INVALID_PARAM, "targetValue is a list")
    task, created = services.continuous_push(
        app=app,
        task_id=_int(data, "messageId"),
        target_type=GROUP_TARGETS[target],
        target_values=[str(v) for v in values],
        api_caller=caller,
        request=request,
        idempotency_key=_key(data),
    )
    return {
        "pushResult": {
            "messageId": task.pk,
            "status": task.status,
            "batches": task.params.get("batches", 0),
            "duplicate": not created,
        }
    }


def _key(data: dict) -> str | None:
    token = data.get("idempotentToken")
    return f"api:{str(token)[:120]}" if token else None


def openapi_json(request: HttpRequest) -> JsonResponse:
    """The OpenAPI 3.1 document of the send endpoints (public: it holds no data)."""
    from .openapi import document

    return JsonResponse(document(), json_dumps_params={"indent": 2})


__all__ = [
    "push_simple",
    "push_template",
    "push_multiple",
    "push_broadcast",
    "push_continuous",
    "openapi_json",
    "TaskStatus",
]
