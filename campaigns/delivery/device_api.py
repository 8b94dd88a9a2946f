"""The client API: what the app on a phone calls (HMAC-signed, `@device_api()`).

Every call is a POST with a JSON body and gets the SPEC answer (resultCode 100 on
success, 3028 INVALID_PARAM with a `detail` naming the field otherwise). Bad input
changes nothing.

Trust: the AppSecret ships inside every installed app, so it only registers a new device.
`device/report` of a device not seen before, signed under the AppSecret, answers a
`deviceSecret` once. Every later call of that device (its re-reports included) names it in
the `X-Pushdeck-Device-Id` header and is signed under its deviceSecret; it can only act on
that device (a `deviceId` in the body must be the same). Rotating the AppSecret leaves
device secrets alone. Calls are limited per app and per device (HTTP 429, `Retry-After`).
"""

from __future__ import annotations

import functools
import re
import secrets
import uuid
from functools import wraps

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.urls import path
from django.utils import timezone

from campaigns.codes import ApiCode, PushError
from campaigns.models import (
    ApnsEnvironment,
    Delivery,
    Device,
    DeviceAlias,
    Platform,
    ReceiptEventType,
    Tag,
    UserBinding,
)
from console import appcache, rowsql
from console.apisign import HEADER_DEVICE_ID, api_response, signed_api
from console.models import App, Vendor
from console.security.api import RateLimited
from console.security.counters import window_hit

from . import selfbuilt, status

MAX_ALIASES_PER_DEVICE = 128
MAX_DEVICES_PER_ALIAS = 128
MAX_TAGS_PER_APP = 10_000
MAX_NAME = 128

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
APNS_TOKEN_RE = re.compile(r"^[0-9a-fA-F]{64}$")
PHONE_RE = re.compile(r"^\+?[0-9]{5,20}$")
VENDORS = {v.value for v in Vendor} | {"fcm"}


def _str(data: dict, key: str, *, max_len: int, required: bool = False, pattern: re.Pattern | None = None) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise PushError(ApiCode.INVALID_PARAM, f"{key} must be a string", field=key)
    value = value.strip()
    if required and not value:
        raise PushError(ApiCode.INVALID_PARAM, f"{key} is required", field=key)
    if len(value) > max_len:
        raise PushError(ApiCode.INVALID_PARAM, f"{key} is longer than {max_len} characters", field=key)
    if value and pattern is not None and not pattern.match(value):
        raise PushError(ApiCode.INVALID_PARAM, f"{key} has an invalid format", field=key)
    return value


def _names(data: dict, key: str) -> list[str]:
    value = data.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise PushError(ApiCode.INVALID_PARAM, f"{key} must be a non-empty list of strings", field=key)
    names = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise PushError(ApiCode.INVALID_PARAM, f"every {key} entry must be a non-empty string", field=key)
        if len(item.strip()) > MAX_NAME:
            raise PushError(ApiCode.INVALID_PARAM, f"{key} entries are at most {MAX_NAME} characters", field=key)
        names.append(item.strip())
    return list(dict.fromkeys(names))


def _device(app: App, data: dict) -> Device:
    device_id = _str(data, "deviceId", max_len=128, required=True, pattern=DEVICE_ID_RE)
    device = Device.objects.filter(app=app, device_id=device_id).first()
    if device is None:
        raise PushError(ApiCode.INVALID_PARAM, "unknown deviceId: report the device first", field="deviceId")
    return device


# Trust ---------------------------------------------------------------------


def _refused(message: str) -> PushError:
    return PushError(ApiCode.SIGNATURE_MISMATCH, message)


def client_key(request: HttpRequest, app: App) -> str:
    """The HMAC key of a client call: the named device's own secret, else the AppSecret."""
    request.api_device = None
    named = request.headers.get(HEADER_DEVICE_ID, "")
    if not named:
        return app.app_secret
    device = (
        Device.objects.filter(app=app, device_id=named[:128]).only("pk", "app_id", "device_id", "client_secret").first()
    )
    if device is None or not device.client_secret:
        raise _refused(f"no device credential for this {HEADER_DEVICE_ID}: report the device first")
    request.api_device = device
    return device.client_secret


def _check_limits(app: App, device: Device | None) -> None:
    for key, limit in (
        (f"client:{app.pk}", settings.PUSHDECK_CLIENT_RATE_LIMIT_PER_MINUTE),
        (f"device:{device.pk}" if device else "", settings.PUSHDECK_CLIENT_DEVICE_RATE_LIMIT_PER_MINUTE),
    ):
        if key and limit > 0:
            count, retry_after = window_hit(key)
            if count > limit:
                raise RateLimited(limit, retry_after=retry_after)


def device_api(*, registration: bool = False):
    """A client-API view: signed by a device credential (or, to register, by the AppSecret),
    rate-limited, and acting only on the device that signed."""

    def decorator(view):
        @wraps(view)
        def inner(request: HttpRequest, *, app: App, data: dict):
            device = request.api_device
            _check_limits(app, device)
            if device is None and not registration:
                raise _refused(f"this call is signed with the device secret and names the device in {HEADER_DEVICE_ID}")
            if device is not None:
                named = data.get("deviceId")
                if named is None or named == "":
                    data["deviceId"] = device.device_id
                elif not isinstance(named, str) or named.strip() != device.device_id:
                    raise _refused("deviceId is not the device this call is signed for")
            return view(request, app=app, data=data)

        # A registration ends in one guarded INSERT: it may trust the kept configuration.
        return signed_api("client", client_key=client_key, trust_kept=registration)(inner)

    return decorator


def issue_device_secret(device: Device) -> str:
    """A new credential for the device (shown once in the answer; stored encrypted)."""
    secret = secrets.token_urlsafe(32)
    device.client_secret = secret
    device.client_secret_issued_at = timezone.now()
    device.save(update_fields=["client_secret", "client_secret_issued_at"])
    return secret


# Services ------------------------------------------------------------------


def device_report(*, app: App, data: dict, signed_by: Device | None = None) -> tuple[Device, str]:
    """Create or update a device from what the phone reports; (device, new deviceSecret or "").

    Signed under the AppSecret (`signed_by` None) it only registers a device not seen before
    (or one registered before device credentials existed, which gets its first one).
    """
    device_id = _str(data, "deviceId", max_len=128, required=True, pattern=DEVICE_ID_RE)
    platform = _str(data, "platform", max_len=10, required=True).lower()
    if platform not in Platform.values:
        raise PushError(ApiCode.OS_TYPE_NOT_SUPPORTED, "platform is android or ios", field="platform")
    vendor = _str(data, "vendor", max_len=10).lower()
    if vendor and vendor not in VENDORS:
        raise PushError(ApiCode.INVALID_PARAM, f"unknown vendor {vendor}", field="vendor")
    fields = {
        "platform": platform,
        "manufacturer": _str(data, "manufacturer", max_len=40),
        "vendor": vendor,
        "vendor_token": _str(data, "vendorToken", max_len=512),
        "apns_token": _str(data, "apnsToken", max_len=64, pattern=APNS_TOKEN_RE).lower(),
        "fcm_token": _str(data, "fcmToken", max_len=512),
        "app_version": _str(data, "appVersion", max_len=40),
        "package_name": _str(data, "packageName", max_len=255),
        "last_active_at": timezone.now(),
    }
    # The APNs environment of the build (a development build's token is only valid on the sandbox host).
    apns_environment = _str(data, "apnsEnvironment", max_len=12).lower()
    if apns_environment and apns_environment not in ApnsEnvironment.values:
        raise PushError(ApiCode.INVALID_PARAM, "apnsEnvironment is production or development", field="apnsEnvironment")
    if apns_environment or "apnsEnvironment" in data:
        fields["apns_environment"] = apns_environment
    if platform == Platform.IOS and not fields["apns_token"] and not APNS_TOKEN_RE.match(device_id):
        raise PushError(ApiCode.INVALID_PARAM, "an iOS device needs apnsToken (64 hex characters)", field="apnsToken")
    if vendor and not fields["vendor_token"]:
        raise PushError(ApiCode.INVALID_PARAM, "vendorToken is required with vendor", field="vendorToken")
    secret = secrets.token_urlsafe(32)  # issued with the row: one INSERT, no UPDATE after it
    device = Device(
        app=app, device_id=device_id, client_secret=secret, client_secret_issued_at=timezone.now(), **fields
    )
    # A device not seen before (the fleet's usual case) is one INSERT, no read first; a known
    # one (device_unique_per_app) takes the path below.
    if _insert_new(device):
        return device, secret
    with transaction.atomic():
        existing = Device.objects.select_for_update().filter(app=app, device_id=device_id).first()
        if existing is None:  # removed since: report it again
            raise PushError(ApiCode.INVALID_PARAM, "the device was removed meanwhile: report it again")
        return _report_known(existing, fields, signed_by)


def _insert_new(device: Device) -> bool:
    """INSERT the device unless the app has one with its id; True when it was inserted.

    On PostgreSQL one statement (ON CONFLICT DO NOTHING), a transaction of its own outside an
    atomic block: no BEGIN, savepoint or COMMIT round trips. Elsewhere a savepoint catches the
    unique constraint."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                device.save(force_insert=True)
            return True
        except IntegrityError:
            if not Device.objects.filter(app_id=device.app_id, device_id=device.device_id).exists():
                raise
            return False
    expected = appcache.expected_generation(device.app)
    with rowsql.prepared_cursor() as cursor:
        cursor.execute(_insert_device_sql(), [*rowsql.values(device), expected])
        generation, pk = cursor.fetchone()
    if expected is not None and generation != expected:
        raise appcache.Stale  # the configuration the call trusted moved (console.appcache)
    if pk is None:
        return False
    rowsql.saved(device, pk)
    return True


@functools.cache
def _insert_device_sql() -> str:
    # g: the app configuration's generation, which must be the one the call trusted.
    return (
        f"WITH g AS ({appcache.GUARD}), "
        f"i AS (INSERT INTO {rowsql.table(Device)} ({rowsql.columns(Device)}) "
        f"SELECT {rowsql.typed_placeholders(Device)} FROM g WHERE g.generation = COALESCE(%s::bigint, g.generation) "
        "ON CONFLICT (app_id, device_id) DO NOTHING RETURNING id) "
        "SELECT g.generation, (SELECT id FROM i) FROM g"
    )


def _report_known(existing: Device, fields: dict, signed_by: Device | None) -> tuple[Device, str]:
    if signed_by is None and existing.client_secret:
        raise _refused(f"this device is registered: sign with its device secret and name it in {HEADER_DEVICE_ID}")
    tokens = ("vendor_token", "apns_token", "fcm_token")
    if any(getattr(existing, t) != fields[t] for t in tokens):
        # A new token is a live token again.
        fields.update(token_dead_at=None, token_dead_reason="")
    for key, value in fields.items():
        setattr(existing, key, value)
    existing.save()
    return existing, "" if existing.client_secret else issue_device_secret(existing)


@transaction.atomic
def user_bind(*, app: App, data: dict) -> UserBinding:
    """Bind a user id on login; messages waiting for this user's binding go out."""
    device = _device(app, data)
    user_id = _str(data, "userId", max_len=128, required=True)
    binding, _created = UserBinding.objects.get_or_create(app=app, user_id=user_id, device=device)
    Device.objects.filter(pk=device.pk).update(logged_in=True, logged_out_at=None)
    from .tasks import deliver_user_bound

    transaction.on_commit(lambda: deliver_user_bound.delay(app.pk, user_id))
    return binding


@transaction.atomic
def user_unbind(*, app: App, data: dict) -> int:
    device = _device(app, data)
    user_id = _str(data, "userId", max_len=128)
    qs = UserBinding.objects.filter(app=app, device=device)
    if user_id:
        qs = qs.filter(user_id=user_id)
    deleted, _ = qs.delete()
    if not UserBinding.objects.filter(device=device).exists():
        Device.objects.filter(pk=device.pk).update(logged_in=False, logged_out_at=timezone.now())
    return deleted


@transaction.atomic
def account_bind(*, app: App, data: dict, bind: bool) -> None:
    device = _device(app, data)
    account = _str(data, "account", max_len=128, required=bind)
    if bind:
        device.account = account
    elif not account or device.account == account:
        device.account = ""
    device.save(update_fields=["account"])


@transaction.atomic
def aliases_change(*, app: App, data: dict, add: bool) -> int:
    """SPEC: at most 128 aliases per device and 128 devices per alias."""
    device = Device.objects.select_for_update().get(pk=_device(app, data).pk)
    names = _names(data, "aliases")
    if not add:
        deleted, _ = DeviceAlias.objects.filter(device=device, alias__in=names).delete()
        return deleted
    have = set(DeviceAlias.objects.filter(device=device).values_list("alias", flat=True))
    new = [n for n in names if n not in have]
    if len(have) + len(new) > MAX_ALIASES_PER_DEVICE:
        raise PushError(
            ApiCode.INVALID_PARAM, f"a device has at most {MAX_ALIASES_PER_DEVICE} aliases", field="aliases"
        )
    for name in new:
        if DeviceAlias.objects.filter(app=app, alias=name).count() >= MAX_DEVICES_PER_ALIAS:
            raise PushError(
                ApiCode.INVALID_PARAM, f"alias {name} already has {MAX_DEVICES_PER_ALIAS} devices", field="aliases"
            )
    DeviceAlias.objects.bulk_create([DeviceAlias(app=app, device=device, alias=n) for n in new])
    return len(new)


@transaction.atomic
def tags_change(*, app: App, data: dict, add: bool) -> int:
    """SPEC: at most 10,000 tags per app, names up to 128 characters, any number of devices per tag."""
    device = _device(app, data)
    names = _names(data, "tags")
    if not add:
        tags = Tag.objects.filter(app=app, name__in=names)
        for tag in tags:
            tag.devices.remove(device)
        return len(tags)
    App.objects.select_for_update().filter(pk=app.pk).first()  # serialise tag creation per app
    existing = {t.name: t for t in Tag.objects.filter(app=app, name__in=names)}
    missing = [n for n in names if n not in existing]
    if missing and Tag.objects.filter(app=app).count() + len(missing) > MAX_TAGS_PER_APP:
        raise PushError(ApiCode.INVALID_PARAM, f"an app has at most {MAX_TAGS_PER_APP} tags", field="tags")
    for name in missing:
        existing[name] = Tag.objects.create(app=app, name=name)
    for tag in existing.values():
        tag.devices.add(device)
    return len(existing)


@transaction.atomic
def phone_bind(*, app: App, data: dict) -> None:
    device = _device(app, data)
    phone = _str(data, "phoneNumber", max_len=32, pattern=PHONE_RE)
    device.phone_number = phone
    device.save(update_fields=["phone_number"])


def _delivery(device: Device, data: dict) -> Delivery:
    push_id = _str(data, "pushId", max_len=36, required=True)
    try:
        uuid.UUID(push_id)
    except ValueError:
        raise PushError(ApiCode.INVALID_PARAM, "pushId is not a push id", field="pushId") from None
    delivery = Delivery.objects.select_related("message", "device").filter(device=device, push_id=push_id).first()
    if delivery is None:
        raise PushError(ApiCode.INVALID_PARAM, "no such push for this device", field="pushId")
    return delivery


def receipt_report(*, app: App, data: dict) -> bool:
    device = _device(app, data)
    event = _str(data, "event", max_len=10, required=True).lower()
    allowed = {ReceiptEventType.ARRIVE, ReceiptEventType.CLICK, ReceiptEventType.CLEAN, ReceiptEventType.IGNORE}
    if event not in allowed:
        raise PushError(ApiCode.INVALID_PARAM, "event is arrive, click, clean or ignore", field="event")
    delivery = _delivery(device, data)
    return status.delivery_event(delivery=delivery, event=event)


# Views ---------------------------------------------------------------------


@device_api(registration=True)
def report_device(request: HttpRequest, *, app: App, data: dict):
    device, secret = device_report(app=app, data=data, signed_by=request.api_device)
    reply = {"deviceId": device.device_id, **({"deviceSecret": secret} if secret else {})}
    if device.platform == Platform.IOS:
        reply["apnsEnvironment"] = device.apns_environment or ApnsEnvironment.PRODUCTION
    return reply


@device_api()
def bind_user(request: HttpRequest, *, app: App, data: dict):
    user_bind(app=app, data=data)
    return {}


@device_api()
def unbind_user(request: HttpRequest, *, app: App, data: dict):
    return {"unbound": user_unbind(app=app, data=data)}


@device_api()
def bind_account(request: HttpRequest, *, app: App, data: dict):
    account_bind(app=app, data=data, bind=True)
    return {}


@device_api()
def unbind_account(request: HttpRequest, *, app: App, data: dict):
    account_bind(app=app, data=data, bind=False)
    return {}


@device_api()
def add_aliases(request: HttpRequest, *, app: App, data: dict):
    return {"added": aliases_change(app=app, data=data, add=True)}


@device_api()
def remove_aliases(request: HttpRequest, *, app: App, data: dict):
    return {"removed": aliases_change(app=app, data=data, add=False)}


@device_api()
def add_tags(request: HttpRequest, *, app: App, data: dict):
    return {"tags": tags_change(app=app, data=data, add=True)}


@device_api()
def remove_tags(request: HttpRequest, *, app: App, data: dict):
    return {"removed": tags_change(app=app, data=data, add=False)}


@device_api()
def bind_phone(request: HttpRequest, *, app: App, data: dict):
    phone_bind(app=app, data=data)
    return {}


@device_api()
def report_receipt(request: HttpRequest, *, app: App, data: dict):
    return {"counted": receipt_report(app=app, data=data)}


class PollTicket:
    """An authenticated, valid poll: what the waiting part needs."""

    def __init__(self, device: Device, wait: float):
        self.device, self.wait = device, wait


@device_api()
def poll_prepare(request: HttpRequest, *, app: App, data: dict):
    """Everything of a poll but the wait: signature, limits, device, `wait`. A PollTicket or a refusal."""
    device = _device(app, data)
    wait = data.get("wait", 20)
    if not isinstance(wait, int | float) or isinstance(wait, bool) or wait < 0:
        raise PushError(ApiCode.INVALID_PARAM, "wait is a number of seconds", field="wait")
    return PollTicket(device, float(wait))


def poll(request: HttpRequest):
    """Self-built channel long-poll on a sync server: waits up to `wait` seconds (bounded) for messages.
    Under the ASGI server the same path is served by campaigns.delivery.longpoll, holding no thread."""
    ticket = poll_prepare(request)
    if not isinstance(ticket, PollTicket):
        return ticket
    return api_response(ApiCode.SUCCESS, messages=selfbuilt.device_poll(device=ticket.device, wait=ticket.wait))


poll.csrf_exempt = True


@device_api()
def ack(request: HttpRequest, *, app: App, data: dict):
    device = _device(app, data)
    push_ids = data.get("pushIds")
    if not isinstance(push_ids, list) or not push_ids or len(push_ids) > 1000:
        raise PushError(ApiCode.INVALID_PARAM, "pushIds is a list of 1 to 1000 push ids", field="pushIds")
    valid = []
    for item in push_ids:
        try:
            valid.append(str(uuid.UUID(str(item))))
        except ValueError:
            raise PushError(ApiCode.INVALID_PARAM, "pushIds holds an invalid push id", field="pushIds") from None
    return {"acked": selfbuilt.device_ack(device=device, push_ids=valid)}


client_urlpatterns = [
    path("device/report", report_device, name="client-device-report"),
    path("user/bind", bind_user, name="client-user-bind"),
    path("user/unbind", unbind_user, name="client-user-unbind"),
    path("account/bind", bind_account, name="client-account-bind"),
    path("account/unbind", unbind_account, name="client-account-unbind"),
    path("alias/add", add_aliases, name="client-alias-add"),
    path("alias/remove", remove_aliases, name="client-alias-remove"),
    path("tag/add", add_tags, name="client-tag-add"),
    path("tag/remove", remove_tags, name="client-tag-remove"),
    path("phone/bind", bind_phone, name="client-phone-bind"),
    path("receipt", report_receipt, name="client-receipt"),
    path("poll", poll, name="client-poll"),
    path("ack", ack, name="client-ack"),
]
