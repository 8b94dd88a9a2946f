"""What every 2020-10-28 action shares: the app named by AppId + WorkspaceId, field checks, answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings

from console.acs import door
from console.acs.door import Call
from console.apicodes import ApiCode, PushError
from console.models import App

VERSION = "2020-10-28"
# Identity fields every action takes. TenantId is the mPaaS tenant: Pushdeck has one per
# installation, so any value names it.
IDENTITY = ("AppId", "WorkspaceId", "TenantId")

# The answer shapes of the SDK's models, by action.
PUSH_SHAPE = "push"  # ResultCode, ResultMessage, PushResult {Success, ResultMsg, Data}
RESULT_SHAPE = "result"  # ResultCode, ResultMessage, ResultContent
TEMPLATE_SHAPE = "template"  # Success, Code, Msg, Data
DEVICE_SHAPE = "device"  # Success, Code, Message, Data
_SHAPES: dict[str, str] = {}


def mpaas_action(name: str, shape: str) -> Callable:
    def decorator(handler):
        _SHAPES[name] = shape
        door.register(VERSION, name, handler)
        return handler

    return decorator


def ok(shape: str, **fields) -> dict:
    """A successful answer in the action's shape."""
    if shape in (PUSH_SHAPE, RESULT_SHAPE):
        return {"ResultCode": str(int(ApiCode.SUCCESS)), "ResultMessage": ApiCode.SUCCESS.name, **fields}
    if shape == TEMPLATE_SHAPE:
        return {"Success": True, "Code": str(int(ApiCode.SUCCESS)), "Msg": ApiCode.SUCCESS.name, **fields}
    return {"Success": True, "Code": str(int(ApiCode.SUCCESS)), "Message": ApiCode.SUCCESS.name, **fields}


def render_push_error(call: Call, error: PushError) -> dict:
    """A broken SPEC rule: HTTP 200 with the SPEC code, as mPaaS answers business refusals."""
    code, text = (
        str(int(error.code)),
        f"{error.code.name}: {error.message}" if error.message != error.code.name else error.code.name,
    )
    shape = _SHAPES.get(call.action, PUSH_SHAPE)
    if shape == PUSH_SHAPE:
        return {
            "ResultCode": code,
            "ResultMessage": text,
            "PushResult": {"Success": False, "ResultMsg": error.message},
        }
    if shape == RESULT_SHAPE:
        return {"ResultCode": code, "ResultMessage": text}
    if shape == TEMPLATE_SHAPE:
        return {"Success": False, "Code": code, "Msg": text}
    return {"Success": False, "Code": code, "Message": text}


door.on_push_error(VERSION, render_push_error)


def app_of(call: Call, perm: str) -> App:
    """The app named by AppId + WorkspaceId, when the key's user may `perm` in it."""
    app_id, workspace = call.get("AppId") or "", call.get("WorkspaceId") or ""
    if not app_id or not workspace:
        raise PushError(ApiCode.NEED_APPID_WORKSPACEID, "AppId and WorkspaceId are required")
    if workspace != settings.PUSHDECK_WORKSPACE_ID:
        raise PushError(ApiCode.APPID_WRONG, f"WorkspaceId {workspace[:64]} is not this installation's workspace")
    app = App.objects.filter(app_key=app_id[:64]).first()
    return door.app_for(call, app, perm)


def check_fields(call: Call, *, used: Iterable[str], refused: Iterable[str] = (), prefixes: tuple = ()) -> None:
    """Every field is either used or refused by name: nothing the caller asked for is dropped silently.

    `refused` are fields of the SDK model Pushdeck cannot honour: accepted only empty (the
    SDKs send a field only when the caller set it).
    """
    used, refused = set(used) | set(IDENTITY), set(refused)
    for name, value in call.params.items():
        if name in used or (prefixes and name.startswith(prefixes)):
            continue
        if name in refused:
            if value in ("", None):
                continue
            raise PushError(ApiCode.INVALID_PARAM, f"{name} is not supported by Pushdeck")
        raise PushError(ApiCode.INVALID_PARAM, f"unknown field {name[:64]}")


def native(call: Call, mapping: dict[str, str]) -> dict:
    """The SDK's fields under the native API's names (values stay strings; the native rules parse them)."""
    return {native_name: call.params[name] for name, native_name in mapping.items() if call.params.get(name, "") != ""}


def as_int(call: Call, name: str, default: int | None = None, *, required: bool = False) -> int | None:
    value = call.get(name)
    if value in (None, ""):
        if required:
            raise door.missing(name)
        return default
    try:
        return int(value)
    except ValueError:
        raise door.invalid(name, "not a number") from None


def millis(at) -> int | None:
    return int(at.timestamp() * 1000) if at is not None else None


def from_millis(call: Call, name: str, *, required: bool = False):
    from datetime import UTC, datetime

    value = as_int(call, name, required=required)
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise door.invalid(name, "not a time in milliseconds") from None
