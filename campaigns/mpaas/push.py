"""The push actions of 2020-10-28: PushSimple, ..."""

from __future__ import annotations

from console.acs.door import Call
from console.models import Perm

from ..sends import api as native_api
from .common import PUSH_SHAPE, app_of, check_fields, mpaas_action, native, ok

# SDK field -> native API field, for the fields both share.
COMMON_FIELDS = {
    "TaskName": "taskName",
    "DeliveryType": "deliveryType",
    "ExpiredSeconds": "expiredSeconds",
    "ExtendedParams": "extendedParams",
    "PushAction": "pushAction",
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
    "StrategyType",
    "StrategyContent",
)


def _pushed(call: Call, app, data: dict, spec) -> dict:
    task, _created = native_api.submit(
        call.request, app, data, spec, caller=f"ak:{call.access_key.access_key_id}", actor=call.user
    )
    return ok(PUSH_SHAPE, PushResult={"Success": True, "ResultMsg": "", "Data": str(task.pk)})


@mpaas_action("PushSimple", PUSH_SHAPE)
def push_simple(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    check_fields(call, used=[*COMMON_FIELDS, "TargetMsgkey", "Title", "Content", "Uri"], refused=UNSUPPORTED)
    data = native(
        call, {**COMMON_FIELDS, "TargetMsgkey": "targetMsgkey", "Title": "title", "Content": "body", "Uri": "uri"}
    )
    return _pushed(call, app, data, native_api.simple_spec(data))
