"""Device actions of 2020-10-28: PushBind, PushUnBind, PushReport and PushQueryDeviceState.

`DeliveryToken` is the device id (the self-built channel's ad-token). `OsType` is 1 Android,
2 iOS (as DeliveryType). `ThirdChannel` is mPaaS's vendor number: 4 Xiaomi, 5 Huawei.
They call the client API's own services (campaigns.delivery.device_api).
"""

from __future__ import annotations

from django.db import transaction

from campaigns.delivery import device_api
from campaigns.models import Device
from campaigns.reports import selectors as reports
from console.acs.door import Call
from console.apicodes import ApiCode, PushError
from console.models import Perm

from .common import DEVICE_SHAPE, PUSH_SHAPE, app_of, as_int, check_fields, mpaas_action, ok

OS_TYPES = {1: "android", 2: "ios"}
THIRD_CHANNELS = {4: "xiaomi", 5: "huawei"}


def _done(data: str = "") -> dict:
    return ok(PUSH_SHAPE, PushResult={"Success": True, "ResultMsg": "", "Data": data})


def _os_type(call: Call) -> str:
    value = as_int(call, "OsType", required=True)
    if value not in OS_TYPES:
        raise PushError(ApiCode.OS_TYPE_NOT_SUPPORTED, "OsType is 1 (Android) or 2 (iOS)")
    return OS_TYPES[value]


def _known_device(app, call: Call) -> Device:
    token = call.get("DeliveryToken") or ""
    if not token:
        raise PushError(ApiCode.DELIVERYTOKEN_INVALID, "DeliveryToken is required")
    device = Device.objects.filter(app=app, device_id=token[:128]).first()
    if device is None:
        raise PushError(ApiCode.DELIVERYTOKEN_INVALID, "no device with this DeliveryToken: report it first")
    return device


@mpaas_action("PushBind", PUSH_SHAPE)
def push_bind(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    check_fields(call, used=["DeliveryToken", "OsType", "UserId", "PhoneNumber"])
    device = _known_device(app, call)
    if _os_type(call) != device.platform:
        raise PushError(ApiCode.OS_TYPE_NOT_SUPPORTED, "OsType is not the reported device's platform")
    user_id = call.get("UserId") or ""
    if not user_id:
        raise PushError(ApiCode.NEED_USERID, "UserId is required")
    with transaction.atomic():
        device_api.user_bind(app=app, data={"deviceId": device.device_id, "userId": user_id})
        if call.get("PhoneNumber"):
            device_api.phone_bind(app=app, data={"deviceId": device.device_id, "phoneNumber": call.get("PhoneNumber")})
    return _done()


@mpaas_action("PushUnBind", PUSH_SHAPE)
def push_unbind(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    check_fields(call, used=["DeliveryToken", "UserId"])
    device = _known_device(app, call)
    user_id = call.get("UserId") or ""
    if not user_id:
        raise PushError(ApiCode.NEED_USERID, "UserId is required")
    removed = device_api.user_unbind(app=app, data={"deviceId": device.device_id, "userId": user_id})
    return _done(str(removed))


@mpaas_action("PushReport", PUSH_SHAPE)
def push_report(call: Call) -> dict:
    app = app_of(call, Perm.SEND)
    check_fields(
        call,
        used=["DeliveryToken", "OsType", "AppVersion", "Model", "ThirdChannel", "ThirdChannelDeviceToken"],
        refused=["Channel", "ConnectType", "Imei", "Imsi", "PushVersion"],
    )
    platform = _os_type(call)
    data = {
        "deviceId": call.get("DeliveryToken") or "",
        "platform": platform,
        "appVersion": call.get("AppVersion") or "",
        "manufacturer": (call.get("Model") or "")[:40],
    }
    if platform == "ios":
        data["apnsToken"] = data["deviceId"]
    third = as_int(call, "ThirdChannel")
    if third is not None:
        if third not in THIRD_CHANNELS:
            raise PushError(ApiCode.INVALID_PARAM, "ThirdChannel is 4 (Xiaomi) or 5 (Huawei)")
        data.update(vendor=THIRD_CHANNELS[third], vendorToken=call.get("ThirdChannelDeviceToken") or "")
    elif call.get("ThirdChannelDeviceToken"):
        raise PushError(ApiCode.INVALID_PARAM, "ThirdChannelDeviceToken needs ThirdChannel")
    if not data["deviceId"]:
        raise PushError(ApiCode.DELIVERYTOKEN_INVALID, "DeliveryToken is required")
    # An AccessKey is a trusted server caller: it may update a device that signs its own calls.
    known = Device.objects.filter(app=app, device_id=data["deviceId"][:128]).first()
    # The device secret a new device gets is for the phone's own client API calls: never answered here.
    device, _secret = device_api.device_report(app=app, data=data, signed_by=known)
    return _done(device.device_id)


@mpaas_action("PushQueryDeviceState", DEVICE_SHAPE)
def push_query_device_state(call: Call) -> dict:
    """TargetType 1: Target is a DeliveryToken (device id); 2: Target is a user id (first bound device)."""
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=["Target", "TargetType"])
    target, kind = call.get("Target") or "", as_int(call, "TargetType", 1)
    if not target:
        raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "Target is required")
    if kind not in (1, 2):
        raise PushError(ApiCode.INVALID_PARAM, "TargetType is 1 (DeliveryToken) or 2 (user id)")
    found = reports.device_lookup(app=app, **({"device_id": target} if kind == 1 else {"user_id": target}))
    if not found:
        raise PushError(ApiCode.DELIVERYTOKEN_INVALID if kind == 1 else ApiCode.NEED_USERID, "no such device")
    report = found[0]
    device = report.device
    state = "Unknown" if device.platform == "ios" else ("online" if device.online else "offline")
    return ok(
        DEVICE_SHAPE,
        Data={
            "UserId": ",".join(report.user_ids),
            "DeviceId": device.device_id,
            "DeliveryToken": device.device_id,
            "ThirdToken": device.vendor_token or device.fcm_token or device.apns_token,
            "Platform": device.platform,
            "Manufacturer": device.manufacturer or device.vendor,
            "Statue": state,
        },
    )
