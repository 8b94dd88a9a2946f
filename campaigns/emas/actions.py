"""The actions of Alibaba Cloud Push (EMAS Mobile Push) API version 2016-08-01 over Pushdeck's services.

Each action reads its parameters exactly as `alibabacloud_push20160801` (and the older
`aliyunsdkpush`) send them, calls the same services as the console and the native API,
and answers with the fields of the SDK's response model. `AppKey` is the app's numeric
EMAS AppKey; the caller is the AccessKey's user, with that user's role in the app.

An EMAS `MessageId` is a Pushdeck task id: Push, CancelPush, QueryPushStatByMsg and
ContinuouslyPush all name the same task the console lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDay
from django.utils import timezone

from campaigns.codes import PushError
from campaigns.delivery import device_api
from campaigns.models import (
    Delivery,
    Device,
    DeviceAlias,
    Message,
    Platform,
    PushTask,
    PushType,
    Tag,
    TargetType,
    TaskStatus,
)
from campaigns.reports import selectors as reports
from campaigns.sends import rules, services
from console.audit import audit_record
from console.models import App, Perm
from console.permissions import apps_for_user, user_perms

from .params import EmasError, Params, invalid, missing, unsupported

VERSION = "2016-08-01"
MAX_TARGETS = rules.BATCH_MAX_TARGETS  # devices, accounts or aliases per push
STORE_OFFLINE_SECONDS = rules.EXPIRE_MAX_SECONDS  # EMAS keeps offline messages 72 hours


@dataclass
class Call:
    """One verified call: the AccessKey's user, its id (for the audit trail) and the parameters."""

    user: object
    access_key_id: str
    params: dict
    request: object = None

    @property
    def caller(self) -> str:
        """Who the task list and the audit log name: the user and the AccessKey (as the other doors do)."""
        return f"{self.user.get_username()} (AccessKey {self.access_key_id})"[:100]


@dataclass(frozen=True)
class Action:
    name: str
    handler: Callable[[Call, Params], dict]
    perm: str


ACTIONS: dict[str, Action] = {}


def action(name: str, perm: str = Perm.VIEW):
    def register(handler):
        ACTIONS[name] = Action(name=name, handler=handler, perm=perm)
        return handler

    return register


def run(name: str, call: Call) -> dict:
    """Run one action; PushError and any refusal come back as EmasError."""
    found = ACTIONS.get(name)
    if found is None:
        raise EmasError("InvalidAction.NotFound", f"Specified api is not found: {name} of version {VERSION}.", 404)
    p = Params(call.params)
    try:
        body = found.handler(call, p, perm=found.perm)
    except PushError as error:
        raise EmasError(f"InvalidParameter.{error.code.name}", f"{error.message} ({int(error.code)})") from None
    return body


def _app(call: Call, p: Params, perm: str) -> App:
    """The app named by AppKey, if the AccessKey's user may do `perm` there (Forbidden otherwise)."""
    key = p.int("AppKey", required=True)
    app = App.objects.filter(emas_app_key=key).first()
    if app is None or perm not in user_perms(call.user, app):
        # The same answer whether the app exists or not: outsiders learn nothing.
        raise EmasError("Forbidden", f"This AccessKey may not do this in the app with AppKey {key}.", 403)
    if call.request is not None:
        # The app's allowed source addresses and calls per minute, as at every door.
        from console.acs.door import guard_app

        guard_app(call, app)
    return app


def _audit(call: Call, app: App, action_name: str, target: str, summary: dict | None = None) -> None:
    audit_record(
        action=f"emas.{action_name}",
        actor=call.user,
        actor_label=call.caller,
        app=app,
        target=target[:300],
        summary=summary or {},
        request=call.request,
    )


def _task(app: App, message_id: int | None) -> PushTask:
    task = PushTask.objects.filter(app=app, pk=message_id).first() if message_id else None
    if task is None:
        raise EmasError("InvalidParameter.MessageNotFound", f"No push with MessageId {message_id} in this app.", 404)
    return task


# ------------------------------------------------------------------------ sending


@dataclass
class Order:
    """One push as Push / PushV2 / the PushNotice* shorthands describe it."""

    target: str
    values: list[str] = field(default_factory=list)
    tag_expression: object = None
    platform: str = ""
    notice: bool = True
    title: str = ""
    body: str = ""
    click_action: str = "open_app"
    url: str = ""
    activity: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    push_time: datetime | None = None
    expire_time: datetime | None = None
    store_offline: bool = False
    name: str = ""
    idempotent_token: str = ""


DEVICE_TYPES = {"ANDROID": Platform.ANDROID, "iOS": Platform.IOS, "ALL": ""}
TARGETS = ("DEVICE", "ACCOUNT", "ALIAS", "TAG", "ALL", "TBD")
GROUP_TARGETS = {"ACCOUNT": TargetType.ACCOUNT, "ALIAS": TargetType.ALIAS}


def _target_values(order: Order, text: str, name: str) -> None:
    if order.target in ("DEVICE", "ACCOUNT", "ALIAS"):
        values = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
        if not values:
            raise missing(name)
        if len(values) > MAX_TARGETS:
            raise invalid(name, f"at most {MAX_TARGETS} targets per push")
        order.values = values
    elif order.target == "TAG":
        if not text.strip():
            raise missing(name)
        try:
            expression = json.loads(text)
        except json.JSONDecodeError:
            expression = text.strip()  # a single tag name
        from campaigns.audience import tag_q

        tag_q(expression)
        order.tag_expression = expression
    elif order.target in ("ALL", "TBD") and text.strip() not in ("", "ALL"):
        raise invalid(name, f"Target {order.target} takes no TargetValue")


def _merge_extras(order: Order, extras: dict[str, str], name: str) -> None:
    for key, value in extras.items():
        if key in order.extras and order.extras[key] != value:
            raise invalid(name, f"{key} is given twice with different values")
        order.extras[key] = value


def _open(order: Order, p: Params, *, open_type_key: str, url_key: str, activity_key: str) -> None:
    """AndroidOpenType: APPLICATION (default) opens the app, ACTIVITY an activity, URL a web page."""
    open_type = p.choice(open_type_key, ("APPLICATION", "ACTIVITY", "URL", "NONE"), default="APPLICATION")
    url, activity = p.str(url_key), p.str(activity_key)
    if open_type == "NONE":
        raise unsupported([open_type_key + "=NONE"], "a Pushdeck notification always opens the app or a URL")
    if open_type == "URL":
        if not url:
            raise missing(url_key)
        order.click_action, order.url = "open_url", url
    elif url:
        raise invalid(url_key, f"only with {open_type_key} URL")
    if open_type == "ACTIVITY" and not activity:
        raise missing(activity_key)
    if activity and open_type != "ACTIVITY":
        raise invalid(activity_key, f"only with {open_type_key} ACTIVITY")
    order.activity = activity


def _android_remind(order: Order, p: Params) -> None:
    """AndroidRemind + AndroidPopup*: EMAS turns an offline message into a vendor notification.
    Pushdeck sends notifications through the vendor channels already and pass-through messages
    through its own channel only, so it accepts them on a notification that they repeat."""
    remind = p.bool("AndroidRemind", default=False)
    if remind and not order.notice:
        raise unsupported(["AndroidRemind"], "a pass-through message is not turned into a vendor notification")
    for key, same in (("AndroidPopupTitle", order.title), ("AndroidPopupBody", order.body)):
        value = p.str(key)
        if value and value != same:
            raise unsupported([key], "the vendor channels show the notification itself; give the same text")
    if p.has("AndroidPopupActivity"):
        raise unsupported(["AndroidPopupActivity"], "the vendor channels open the app or AndroidActivity")


def _ios_options(order: Order, p: Params, *, prefix: str = "iOS") -> None:
    badge = p.int(f"{prefix}Badge")
    if badge is not None:
        if badge < 0:
            raise invalid(f"{prefix}Badge", "a badge is 0 or more")
        order.extras["badge"] = str(badge)
    music = p.str(f"{prefix}Music")
    if music:
        order.extras["sound"] = music
    if p.bool(f"{prefix}MutableContent"):
        order.extras["mutable-content"] = "1"


def _apns_env(app: App, value: str, name: str) -> None:
    """Pushdeck sends through the app's APNs credential and its environment: a request naming the
    other environment is refused rather than sent where it did not ask."""
    if not value:
        return
    from console.models import ApnsCertificate, ApnsTokenKey

    wanted = {"DEV": "development", "PRODUCT": "production"}.get(value)
    if wanted is None:
        raise invalid(name, "DEV or PRODUCT is expected")
    envs = set(ApnsCertificate.objects.filter(app=app, is_active=True).values_list("environment", flat=True))
    envs |= set(ApnsTokenKey.objects.filter(app=app, is_active=True).values_list("environment", flat=True))
    if envs and wanted not in envs and "both" not in envs:
        raise unsupported([f"{name}={value}"], "the app's APNs credential is for " + ", ".join(sorted(envs)))


SMS_FIELDS = ("SmsTemplateName", "SmsSignName", "SmsParams", "SmsDelaySecs", "SmsSendPolicy")


def _times(order: Order, p: Params, *, push_time: str, expire_time: str, store_offline: str | None) -> None:
    order.push_time = p.time(push_time)
    order.expire_time = p.time(expire_time)
    if store_offline:
        order.store_offline = bool(p.bool(store_offline, default=False))


def _expire_seconds(order: Order, now: datetime) -> int:
    start = order.push_time or now
    if order.expire_time is not None:
        seconds = int((order.expire_time - start).total_seconds())
        if seconds <= 0:
            raise invalid("ExpireTime", "it is before the push time")
        return seconds
    return STORE_OFFLINE_SECONDS if order.store_offline else rules.EXPIRE_DEFAULT_SECONDS


def _spec(order: Order, now: datetime) -> services.SendSpec:
    if order.target == "DEVICE":
        spec = services.SendSpec(push_type=PushType.SIMPLE, target_type=TargetType.DEVICE)
        spec.targets = [(device_id, rules.new_customer_msg_id()) for device_id in order.values]
        spec.target_limit = MAX_TARGETS
    # Pushes to accounts, aliases, a tag or everyone are broadcasts, listed with the console's in
    # the task list; pushes to devices are simple pushes, one message per device.
    elif order.target in GROUP_TARGETS:
        spec = services.SendSpec(push_type=PushType.BROADCAST, target_type=GROUP_TARGETS[order.target], literal=True)
        spec.target_values = order.values
    elif order.target == "TAG":
        spec = services.SendSpec(push_type=PushType.BROADCAST, target_type=TargetType.TAG, literal=True)
        spec.tag_expression = order.tag_expression
    else:  # ALL
        spec = services.SendSpec(push_type=PushType.BROADCAST, target_type=TargetType.ALL, literal=True)
    spec.platform = order.platform
    spec.name = order.name[:200]
    spec.title, spec.body = order.title, order.body
    spec.display_type = "notification" if order.notice else "silent"
    spec.click_action, spec.url, spec.activity = order.click_action, order.url, order.activity
    spec.extras = order.extras
    spec.expire_seconds = _expire_seconds(order, now)
    spec.scheduled_at = order.push_time
    return spec


def _submit(call: Call, app: App, order: Order) -> str:
    """Create the push through the same service as the console; the MessageId is the task id."""
    now = timezone.now()
    key = f"emas:{order.idempotent_token[:120]}" if order.idempotent_token else None
    if order.target == "TBD":
        spec = _spec(Order(**{**order.__dict__, "target": "ALL"}), now)
        spec.push_type, spec.target_type, spec.scheduled_at = PushType.CONTINUOUS, TargetType.DEVICE, None
        if order.push_time is not None:
            raise invalid("PushTime", "a continuous push (Target TBD) is pushed with ContinuouslyPush")
        task, _created = services.continuous_create(
            app=app, spec=spec, actor=call.user, api_caller=call.caller, idempotency_key=key, request=call.request
        )
        return str(task.pk)
    task, _created = services.send_submit(
        app=app,
        spec=_spec(order, now),
        source="api",
        actor=call.user,
        api_caller=call.caller,
        idempotency_key=key,
        request=call.request,
        now=now,
    )
    return str(task.pk)


def _push_order(app: App, p: Params) -> Order:
    """The flat parameters of Push (and of each MassPush task)."""
    target = p.choice("Target", TARGETS, required=True)
    order = Order(target=target)
    _target_values(order, p.str("TargetValue", required=target not in ("ALL", "TBD")), "TargetValue")
    device_type = p.str("DeviceType", required=True)
    if device_type not in DEVICE_TYPES:
        if device_type == "HARMONY":
            raise unsupported(["DeviceType=HARMONY"], "Pushdeck delivers to Android and iOS")
        raise invalid("DeviceType", "ANDROID, iOS or ALL is expected")
    order.platform = DEVICE_TYPES[device_type]
    push_type = p.choice("PushType", ("NOTICE", "MESSAGE"), required=True)
    order.notice = push_type == "NOTICE"
    order.title = p.str("Title", max_len=400)
    order.body = p.str("Body", required=True)
    order.name = p.str("JobKey", max_len=200)
    _times(order, p, push_time="PushTime", expire_time="ExpireTime", store_offline="StoreOffline")
    if order.platform != Platform.IOS:
        _open(order, p, open_type_key="AndroidOpenType", url_key="AndroidOpenUrl", activity_key="AndroidActivity")
    _android_remind(order, p)
    _merge_extras(order, p.json_map("AndroidExtParameters"), "AndroidExtParameters")
    if order.platform != Platform.ANDROID:
        _ios_options(order, p)
        _apns_env(app, p.str("iOSApnsEnv"), "iOSApnsEnv")
    _merge_extras(order, p.json_map("iOSExtParameters"), "iOSExtParameters")
    if any(p.has(f) for f in SMS_FIELDS):
        raise unsupported(
            [f for f in SMS_FIELDS if p.has(f)],
            "SMS fallback is set per app on Pushdeck's push configuration page, not per push",
        )
    return order


@action("Push", Perm.SEND)
def push(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    order = _push_order(app, p)
    order.idempotent_token = p.str("IdempotentToken", max_len=64)
    p.finish()
    return {"MessageId": _submit(call, app, order)}


def _shorthand(call: Call, p: Params, perm: str, *, platform: str, notice: bool) -> dict:
    """PushNoticeToAndroid / PushNoticeToiOS / PushMessageToAndroid / PushMessageToiOS."""
    app = _app(call, p, perm)
    target = p.choice("Target", ("DEVICE", "ACCOUNT", "ALIAS", "TAG", "ALL"), required=True)
    order = Order(target=target, platform=platform, notice=notice)
    _target_values(order, p.str("TargetValue", required=target != "ALL"), "TargetValue")
    order.title = p.str("Title", max_len=400)
    order.body = p.str("Body", required=True)
    order.name = p.str("JobKey", max_len=200)
    order.store_offline = bool(p.bool("StoreOffline", default=False))
    if notice:
        _merge_extras(order, p.json_map("ExtParameters"), "ExtParameters")
    if platform == Platform.IOS and notice:
        _apns_env(app, p.str("ApnsEnv"), "ApnsEnv")
    p.finish()
    return {"MessageId": _submit(call, app, order)}


@action("PushNoticeToAndroid", Perm.SEND)
def push_notice_to_android(call: Call, p: Params, perm: str) -> dict:
    return _shorthand(call, p, perm, platform=Platform.ANDROID, notice=True)


@action("PushNoticeToiOS", Perm.SEND)
def push_notice_to_ios(call: Call, p: Params, perm: str) -> dict:
    return _shorthand(call, p, perm, platform=Platform.IOS, notice=True)


@action("PushMessageToAndroid", Perm.SEND)
def push_message_to_android(call: Call, p: Params, perm: str) -> dict:
    return _shorthand(call, p, perm, platform=Platform.ANDROID, notice=False)


@action("PushMessageToiOS", Perm.SEND)
def push_message_to_ios(call: Call, p: Params, perm: str) -> dict:
    return _shorthand(call, p, perm, platform=Platform.IOS, notice=False)


# PushV2: the structured PushTask of the PushV2 integration guide.

V2_PLATFORMS = {"ANDROID": Platform.ANDROID, "IOS": Platform.IOS, "ALL": ""}
V2_ACTIONS = ("PUSH", "SCHEDULED_PUSH", "CREATE_CONTINUOUS_PUSH", "CONTINUOUS_PUSH")


def _v2_task(value) -> Params:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise invalid("PushTask", "a JSON object is expected") from None
    if not isinstance(value, dict):
        raise invalid("PushTask", "a JSON object is expected")
    return Params(value, prefix="PushTask.")


def _v2_order(call: Call, app: App, task: Params) -> tuple[Order, int | None]:
    """A PushTask -> an Order (and, for CONTINUOUS_PUSH, the MessageId it pushes)."""
    verb = task.choice("Action", V2_ACTIONS, default="PUSH")
    target = task.child("Target")
    options = task.child("Options")
    message = task.child("Message")
    notification = task.child("Notification")
    has_message, has_notice = bool(message.data), bool(notification.data)
    continuous_id = options.int("MessageId")
    order = Order(target="TBD" if verb == "CREATE_CONTINUOUS_PUSH" else "")
    if verb == "CREATE_CONTINUOUS_PUSH":
        if target.data:
            raise invalid("PushTask.Target", "CREATE_CONTINUOUS_PUSH takes no Target")
    else:
        order.target = target.choice("Type", ("DEVICE", "ACCOUNT", "ALIAS", "TAG", "ALL"), required=True)
        _target_values(order, target.str("Value", required=order.target != "ALL"), "PushTask.Target.Value")
        platform = target.str("Platform", default="ALL")
        if platform not in V2_PLATFORMS:
            if platform == "HMOS":
                raise unsupported(["PushTask.Target.Platform=HMOS"], "Pushdeck delivers to Android and iOS")
            raise invalid("PushTask.Target.Platform", "ANDROID, IOS or ALL is expected")
        order.platform = V2_PLATFORMS[platform]
    if verb == "CONTINUOUS_PUSH":
        if continuous_id is None:
            raise missing("PushTask.Options.MessageId")
        if order.target not in ("DEVICE", "ACCOUNT", "ALIAS"):
            raise invalid("PushTask.Target.Type", "a continuous push goes to DEVICE, ACCOUNT or ALIAS")
        if has_message or has_notice:
            raise invalid("PushTask", "CONTINUOUS_PUSH sends the message made by CREATE_CONTINUOUS_PUSH")
    elif continuous_id is not None:
        raise invalid("PushTask.Options.MessageId", "only with Action CONTINUOUS_PUSH")
    if verb != "CONTINUOUS_PUSH":
        if has_message and has_notice:
            raise unsupported(
                ["PushTask.Message", "PushTask.Notification"],
                "a push is either a pass-through message or a notification, not one turning into the other",
            )
        if not has_message and not has_notice:
            raise missing("PushTask.Notification")
        content = notification if has_notice else message
        order.notice = has_notice
        order.title = content.str("Title", max_len=400)
        order.body = content.str("Body", required=True)
        android = notification.child("Android")
        ios = notification.child("Ios")
        if has_notice:
            order.activity = android.str("VendorChannelActivity")
            _merge_extras(order, android.json_map("ExtParameters"), "PushTask.Notification.Android.ExtParameters")
            badge = ios.int("Badge")
            if badge is not None:
                order.extras["badge"] = str(badge)
            if ios.str("Music"):
                order.extras["sound"] = ios.str("Music")
            if ios.bool("Mutable"):
                order.extras["mutable-content"] = "1"
            _apns_env(app, ios.str("ApnsEnv"), "PushTask.Notification.Ios.ApnsEnv")
            _merge_extras(order, ios.json_map("ExtParameters"), "PushTask.Notification.Ios.ExtParameters")
            android.finish()
            ios.finish()
        content.finish()
        order.name = options.str("JobKey", max_len=200)
        order.push_time = options.time("PushTime")
        order.expire_time = options.time("ExpireTime")
        if verb == "SCHEDULED_PUSH" and order.push_time is None:
            raise missing("PushTask.Options.PushTime")
        if verb == "PUSH" and order.push_time is not None:
            raise invalid("PushTask.Options.PushTime", "a push at a set time has Action SCHEDULED_PUSH")
    target.finish()
    options.finish()
    task.finish()
    return order, continuous_id


def _v2_submit(call: Call, app: App, order: Order, continuous_id: int | None, token: str) -> str:
    if continuous_id is not None:
        task, _created = services.continuous_push(
            app=app,
            task_id=continuous_id,
            target_type=TargetType.DEVICE if order.target == "DEVICE" else GROUP_TARGETS[order.target],
            target_values=order.values,
            actor=call.user,
            api_caller=call.caller,
            idempotency_key=f"emas:{token[:120]}" if token else None,
            request=call.request,
        )
        return str(task.pk)
    order.idempotent_token = token
    return _submit(call, app, order)


@action("PushV2", Perm.SEND)
def push_v2(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    token = p.str("IdempotentToken", max_len=64)
    if not p.has("PushTask"):
        raise missing("PushTask")
    order, continuous_id = _v2_order(call, app, _v2_task(p.raw("PushTask")))
    p.finish()
    return {"MessageId": _v2_submit(call, app, order, continuous_id, token)}


@action("MassPushV2", Perm.SEND)
def mass_push_v2(call: Call, p: Params, perm: str) -> dict:
    """Up to 100 PushTasks, each its own push; all are checked before any is created."""
    app = _app(call, p, perm)
    token = p.str("IdempotentToken", max_len=64)
    raw = p.raw("PushTasks")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise invalid("PushTasks", "a JSON list is expected") from None
    if not isinstance(raw, list) or not raw:
        raise missing("PushTasks")
    if len(raw) > 100:
        raise invalid("PushTasks", "at most 100 tasks")
    orders = [_v2_order(call, app, _v2_task(item)) for item in raw]
    p.finish()
    with transaction.atomic():
        ids = [
            _v2_submit(call, app, order, cid, f"{token}:{i}" if token else "") for i, (order, cid) in enumerate(orders)
        ]
    return {"MessageIds": ids}


@action("MassPush", Perm.SEND)
def mass_push(call: Call, p: Params, perm: str) -> dict:
    """Up to 100 Push tasks given as PushTask.N.<field>; all checked before any is created."""
    app = _app(call, p, perm)
    token = p.str("IdempotentToken", max_len=64)
    tasks: dict[int, dict] = {}
    for key in list(p.data):
        if not key.startswith("PushTask."):
            continue
        number, _, name = key[len("PushTask.") :].partition(".")
        if not number.isdigit() or not name:
            raise invalid(key, "PushTask.N.Field is expected")
        tasks.setdefault(int(number), {})[name] = p.raw(key)
    if not tasks:
        raise missing("PushTask")
    if len(tasks) > 100:
        raise invalid("PushTask", "at most 100 tasks")
    orders = []
    for number in sorted(tasks):
        item = Params(tasks[number], prefix=f"PushTask.{number}.")
        order = _push_order(app, item)
        item.finish()
        orders.append(order)
    p.finish()
    with transaction.atomic():
        ids = []
        for i, order in enumerate(orders):
            order.idempotent_token = f"{token}:{i}" if token else ""
            ids.append(_submit(call, app, order))
    return {"MessageIds": {"MessageId": ids}}


@action("ContinuouslyPush", Perm.SEND)
def continuously_push(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    message_id = p.int("MessageId", required=True)
    target = p.choice("Target", ("DEVICE", "ACCOUNT", "ALIAS"), required=True)
    order = Order(target=target)
    _target_values(order, p.str("TargetValue", required=True), "TargetValue")
    p.finish()
    return {"MessageId": _v2_submit(call, app, order, message_id, "")}


@action("CompleteContinuouslyPush", Perm.SEND)
def complete_continuously_push(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    message_id = p.int("MessageId", required=True)
    p.finish()
    task = services.continuous_complete(
        app=app, task_id=message_id, actor=call.user, api_caller=call.caller, request=call.request
    )
    return {"MessageId": str(task.pk)}


@action("CancelPush", Perm.SEND)
def cancel_push(call: Call, p: Params, perm: str) -> dict:
    """Cancel a push that has not started (scheduled, or waiting for approval)."""
    app = _app(call, p, perm)
    message_id = p.int("MessageId", required=True)
    p.finish()
    task = _task(app, message_id)
    services.task_cancel(app=app, task_id=task.pk, actor=call.user, request=call.request)
    return {}


# ------------------------------------------------------------------------ querying


def _cleared(task_ids: list[int]) -> dict[int, int]:
    rows = (
        Delivery.objects.filter(message__task_id__in=task_ids, cleared_at__isnull=False)
        .values("message__task_id")
        .annotate(n=Count("id"))
    )
    return {r["message__task_id"]: r["n"] for r in rows}


def _stat_of(task: PushTask, cleared: int) -> dict:
    """The figures the console's task list shows: audience, accepted by the gateways, arrived, opened."""
    return {
        "MessageId": str(task.pk),
        "AcceptCount": task.target_count,
        "SentCount": task.succeeded,
        "ReceivedCount": task.arrived,
        "OpenedCount": task.opened,
        "DeletedCount": cleared,
        "SmsSentCount": 0,
        "SmsSkipCount": 0,
        "SmsFailedCount": 0,
        "SmsReceiveSuccessCount": 0,
        "SmsReceiveFailedCount": 0,
    }


@action("QueryPushStatByMsg")
def query_push_stat_by_msg(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    message_id = p.int("MessageId", required=True)
    p.finish()
    task = _task(app, message_id)
    return {"PushStats": {"PushStat": [_stat_of(task, _cleared([task.pk]).get(task.pk, 0))]}}


@action("ListSummaryApps")
def list_summary_apps(call: Call, p: Params, perm: str) -> dict:
    p.finish()
    apps = apps_for_user(call.user).order_by("name")
    return {"SummaryAppInfos": {"SummaryAppInfo": [{"AppKey": a.emas_app_key, "AppName": a.name} for a in apps[:1000]]}}


def _range(p: Params, *, max_days: int) -> tuple[datetime, datetime]:
    start, end = p.time("StartTime"), p.time("EndTime")
    if start is None:
        raise missing("StartTime")
    if end is None:
        raise missing("EndTime")
    if end <= start:
        raise invalid("EndTime", "it is not after StartTime")
    if end - start > timedelta(days=max_days):
        raise invalid("EndTime", f"a range is at most {max_days} days")
    return start, end


GRANULARITIES = {"DAY": "day", "HOUR": "hour"}


@action("QueryPushStatByApp")
def query_push_stat_by_app(call: Call, p: Params, perm: str) -> dict:
    """The usage analysis figures of the console, per UTC day or hour."""
    app = _app(call, p, perm)
    granularity = GRANULARITIES[p.choice("Granularity", tuple(GRANULARITIES), required=True)]
    start, end = _range(p, max_days=1 if granularity == "hour" else 90)
    p.finish()
    rows = reports.usage_series(app=app, start=start, end=end, granularity=granularity, tz=UTC)
    stats = [
        {
            "Time": _utc(row.bucket),
            "AcceptCount": row.pushed,
            "SentCount": row.pushed,
            "ReceivedCount": row.arrived,
            "OpenedCount": row.opened,
            "DeletedCount": row.cleared,
            "SmsSentCount": 0,
            "SmsSkipCount": 0,
            "SmsFailedCount": 0,
            "SmsReceiveSuccessCount": 0,
            "SmsReceiveFailedCount": 0,
        }
        for row in rows
    ]
    return {"AppPushStats": {"AppPushStat": stats}}


@action("QueryDeviceStat")
def query_device_stat(call: Call, p: Params, perm: str) -> dict:
    """Devices registered per UTC day (NEW) or in all up to the end of each day (TOTAL)."""
    app = _app(call, p, perm)
    start, end = _range(p, max_days=31)
    device_type = p.choice("DeviceType", ("ANDROID", "iOS", "ALL"), required=True)
    query_type = p.choice("QueryType", ("NEW", "TOTAL"), required=True)
    p.finish()
    devices = Device.objects.filter(app=app)
    if device_type != "ALL":
        devices = devices.filter(platform=DEVICE_TYPES[device_type])
    new = dict(
        devices.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDay("created_at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    total = devices.filter(created_at__lt=start).count() if query_type == "TOTAL" else 0
    stats = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        count = new.get(day, 0)
        total += count
        stats.append({"Time": _utc(day), "Count": total if query_type == "TOTAL" else count, "DeviceType": device_type})
        day += timedelta(days=1)
    return {"AppDeviceStats": {"AppDeviceStat": stats}}


@action("QueryUniqueDeviceStat")
def query_unique_device_stat(call: Call, p: Params, perm: str) -> dict:
    _app(call, p, perm)
    raise EmasError(
        "InvalidAction.NotSupported",
        "Pushdeck keeps each device's last activity only, not a history of active devices per day or month.",
        400,
    )


RECORD_STATUS = {
    TaskStatus.DRAFT: "TBD",
    TaskStatus.AWAITING_APPROVAL: "AWAITING_APPROVAL",
    TaskStatus.SCHEDULED: "SCHEDULED",
    TaskStatus.QUEUED: "SENDING",
    TaskStatus.INGESTING: "SENDING",
    TaskStatus.VALIDATING: "SENDING",
    TaskStatus.RUNNING: "SENDING",
    TaskStatus.FINISHED: "SENT",
    TaskStatus.CANCELLED: "CANCELED",
    TaskStatus.STOPPED: "CANCELED",
    TaskStatus.REJECTED: "CANCELED",
    TaskStatus.FAILED: "FAILED",
}
RECORD_TARGETS = {
    TargetType.DEVICE: "DEVICE",
    TargetType.ANDROID_DEVICE: "DEVICE",
    TargetType.IOS_DEVICE: "DEVICE",
    TargetType.USER: "DEVICE",
    TargetType.ACCOUNT: "ACCOUNT",
    TargetType.ALIAS: "ALIAS",
    TargetType.TAG: "TAG",
    TargetType.ALL: "ALL",
}


@action("QueryPushRecords")
def query_push_records(call: Call, p: Params, perm: str) -> dict:
    """The pushes of the console's task list made in [StartTime, EndTime), newest first."""
    app = _app(call, p, perm)
    start, end = _range(p, max_days=90)
    page = p.int("Page", default=1)
    size = p.int("PageSize", default=20)
    if not 1 <= page <= 10_000:
        raise invalid("Page", "1 to 10000")
    if not 1 <= size <= 100:
        raise invalid("PageSize", "1 to 100")
    push_type = p.choice("PushType", ("NOTICE", "MESSAGE"))
    source = p.choice("Source", ("API", "CONSOLE"))
    target = p.choice("Target", ("DEVICE", "ACCOUNT", "ALIAS", "TAG", "ALL", "TBD"))
    keyword = p.str("Keyword", max_len=100)
    if p.has("NextToken"):
        raise unsupported(["NextToken"], "page with Page and PageSize")
    p.finish()
    tasks = PushTask.objects.filter(app=app, created_at__gte=start, created_at__lt=end)
    if source:
        tasks = tasks.filter(source=source.lower())
    if push_type:
        tasks = tasks.filter(params__payload__silent=push_type == "MESSAGE")
    if target == "TBD":
        tasks = tasks.filter(push_type=PushType.CONTINUOUS)
    elif target:
        kinds = [k for k, v in RECORD_TARGETS.items() if v == target]
        tasks = tasks.exclude(push_type=PushType.CONTINUOUS).filter(
            Exists(Message.objects.filter(task=OuterRef("pk"), target_type__in=kinds))
        )
    if keyword:
        text = Q(title__icontains=keyword) | Q(body__icontains=keyword)
        by_id = Q(pk=int(keyword)) if keyword.isdigit() else Q(pk__in=[])
        tasks = tasks.filter(
            by_id | Q(name__icontains=keyword) | Exists(Message.objects.filter(text, task=OuterRef("pk")))
        )
    total = tasks.count()
    rows = list(tasks.order_by("-created_at", "-id")[(page - 1) * size : page * size])
    first = {}
    for m in Message.objects.filter(task__in=rows).order_by("task_id", "id").distinct("task_id"):
        first[m.task_id] = m
    infos = []
    for t in rows:
        m = first.get(t.pk)
        payload = t.params.get("payload") or {}
        platform = (m.platform if m else "") or t.params.get("platform", "")
        infos.append(
            {
                "MessageId": str(t.pk),
                "AppKey": app.emas_app_key,
                "Title": m.title if m else t.params.get("title", ""),
                "Body": m.body if m else t.params.get("body", ""),
                "PushTime": _utc(t.scheduled_at or t.created_at),
                "DeviceType": DEVICE_TYPE_NAMES.get(platform, "ALL"),
                "PushType": "MESSAGE" if payload.get("silent") else "NOTICE",
                "Target": "TBD"
                if t.push_type == PushType.CONTINUOUS
                else RECORD_TARGETS.get(m.target_type if m else "", "DEVICE"),
                "Status": RECORD_STATUS.get(t.status, t.status.upper()),
                "Source": "API" if t.source == "api" else "CONSOLE",
            }
        )
    return {"PushInfos": {"PushInfo": infos}, "Total": total, "Page": page, "PageSize": size}


@action("CheckCertificate")
def check_certificate(call: Call, p: Params, perm: str) -> dict:
    """Whether the app can reach Android and iOS, and the state of its APNs credentials."""
    from console.models import ApnsCertificate, ApnsTokenKey

    app = _app(call, p, perm)
    p.finish()
    now = timezone.now()
    infos = {}
    for env, name in (("production", "ProductionCertInfo"), ("development", "DevelopmentCertInfo")):
        cert = (
            ApnsCertificate.objects.filter(app=app, is_active=True, environment__in=[env, "both"])
            .order_by("-uploaded_at")
            .first()
        )
        token = ApnsTokenKey.objects.filter(app=app, is_active=True, environment=env).exists()
        if cert is not None:
            status = "EXPIRED" if cert.is_expired(now) else "OK"
            infos[name] = {"ExipreTime": int(cert.not_after.timestamp() * 1000), "Status": status}
        elif token:
            infos[name] = {"Status": "OK"}
        else:
            infos[name] = {"Status": "NOT_CONFIGURED"}
    ios = any(i["Status"] == "OK" for i in infos.values())
    # Android always has the self-built channel; vendor channels and FCM come on top.
    return {"Android": True, "IOS": ios, **infos}


# ------------------------------------------------------------------------ devices


def _device(app: App, p: Params, key: str = "DeviceId") -> Device:
    device_id = p.str(key, required=True, max_len=128)
    device = Device.objects.filter(app=app, device_id=device_id).first()
    if device is None:
        raise EmasError("InvalidParameter.DeviceNotFound", f"No device {device_id} in this app.", 404)
    return device


@action("BindAlias", Perm.SEND)
def bind_alias(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    device = _device(app, p)
    aliases = p.list("AliasName", required=True, max_items=10)
    p.finish()
    added = device_api.aliases_change(app=app, data={"deviceId": device.device_id, "aliases": aliases}, add=True)
    _audit(call, app, "alias.bind", f"device {device.device_id}", {"aliases": aliases, "added": added})
    return {}


@action("UnbindAlias", Perm.SEND)
def unbind_alias(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    device = _device(app, p)
    unbind_all = bool(p.bool("UnbindAll", default=False))
    aliases = p.list("AliasName", required=not unbind_all, max_items=10)
    p.finish()
    if unbind_all:
        removed, _ = DeviceAlias.objects.filter(app=app, device=device).delete()
    else:
        removed = device_api.aliases_change(app=app, data={"deviceId": device.device_id, "aliases": aliases}, add=False)
    _audit(call, app, "alias.unbind", f"device {device.device_id}", {"aliases": aliases, "removed": removed})
    return {}


@action("QueryAliases")
def query_aliases(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    device = _device(app, p)
    p.finish()
    names = DeviceAlias.objects.filter(device=device).order_by("alias").values_list("alias", flat=True)
    return {"AliasInfos": {"AliasInfo": [{"AliasName": n} for n in names]}}


@action("QueryDevicesByAlias")
def query_devices_by_alias(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    alias = p.str("Alias", required=True, max_len=128)
    p.finish()
    ids = DeviceAlias.objects.filter(app=app, alias=alias).order_by("device__device_id")
    return {"DeviceIds": {"DeviceId": list(ids.values_list("device__device_id", flat=True)[:1000])}}


@action("QueryDevicesByAccount")
def query_devices_by_account(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    account = p.str("Account", required=True, max_len=128)
    p.finish()
    ids = Device.objects.filter(app=app, account=account).order_by("device_id")
    return {"DeviceIds": {"DeviceId": list(ids.values_list("device_id", flat=True)[:1000])}}


def _tag_devices(app: App, p: Params) -> list[Device]:
    key_type = p.choice("KeyType", ("DEVICE", "ACCOUNT", "ALIAS"), required=True)
    if key_type != "DEVICE":
        raise unsupported(
            [f"KeyType={key_type}"], "Pushdeck tags devices; tag the devices of an account or alias by DeviceId"
        )
    ids = p.list("ClientKey", required=True, max_items=1000)
    devices = list(Device.objects.filter(app=app, device_id__in=ids))
    unknown = sorted(set(ids) - {d.device_id for d in devices})
    if unknown:
        raise EmasError(
            "InvalidParameter.DeviceNotFound", "No device " + ", ".join(unknown[:10]) + " in this app.", 404
        )
    return devices


@action("BindTag", Perm.SEND)
def bind_tag(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    devices = _tag_devices(app, p)
    names = p.list("TagName", required=True, max_items=10)
    p.finish()
    with transaction.atomic():
        for device in devices:
            device_api.tags_change(app=app, data={"deviceId": device.device_id, "tags": names}, add=True)
    _audit(call, app, "tag.bind", f"{len(devices)} devices", {"tags": names})
    return {}


@action("UnbindTag", Perm.SEND)
def unbind_tag(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    devices = _tag_devices(app, p)
    names = p.list("TagName", required=True, max_items=10)
    p.finish()
    with transaction.atomic():
        for tag in Tag.objects.filter(app=app, name__in=names):
            tag.devices.remove(*devices)
    _audit(call, app, "tag.unbind", f"{len(devices)} devices", {"tags": names})
    return {}


@action("QueryTags")
def query_tags(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    devices = _tag_devices(app, p)
    p.finish()
    if len(devices) != 1:
        raise invalid("ClientKey", "QueryTags takes one device")
    names = Tag.objects.filter(app=app, devices=devices[0]).order_by("name").values_list("name", flat=True)
    return {"TagInfos": {"TagInfo": [{"TagName": n} for n in names]}}


@action("ListTags")
def list_tags(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    p.finish()
    names = Tag.objects.filter(app=app).order_by("name").values_list("name", flat=True)
    return {"TagInfos": {"TagInfo": [{"TagName": n} for n in names[: device_api.MAX_TAGS_PER_APP]]}}


@action("RemoveTag", Perm.SEND)
def remove_tag(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    name = p.str("TagName", required=True, max_len=device_api.MAX_NAME)
    p.finish()
    deleted, _ = Tag.objects.filter(app=app, name=name).delete()
    if not deleted:
        raise EmasError("InvalidParameter.TagNotFound", f"No tag {name} in this app.", 404)
    _audit(call, app, "tag.remove", f"tag {name}")
    return {}


@action("BindPhone", Perm.SEND)
def bind_phone(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    device = _device(app, p)
    phone = p.str("PhoneNumber", required=True, max_len=32)
    p.finish()
    device_api.phone_bind(app=app, data={"deviceId": device.device_id, "phoneNumber": phone})
    _audit(call, app, "phone.bind", f"device {device.device_id}")
    return {}


@action("UnbindPhone", Perm.SEND)
def unbind_phone(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    device = _device(app, p)
    p.finish()
    device_api.phone_bind(app=app, data={"deviceId": device.device_id, "phoneNumber": ""})
    _audit(call, app, "phone.unbind", f"device {device.device_id}")
    return {}


def _available(device: Device | None) -> bool:
    return device is not None and device.token_dead_at is None


@action("CheckDevice")
def check_device(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    device_id = p.str("DeviceId", required=True, max_len=128)
    p.finish()
    return {"Available": _available(Device.objects.filter(app=app, device_id=device_id).first())}


@action("CheckDevices")
def check_devices(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    ids = p.list("DeviceIds", required=True, max_items=100)
    p.finish()
    found = {d.device_id: d for d in Device.objects.filter(app=app, device_id__in=ids)}
    infos = [{"DeviceId": i, "Available": _available(found.get(i))} for i in ids]
    return {"DeviceCheckInfos": {"DeviceCheckInfo": infos}}


DEVICE_TYPE_NAMES = {Platform.ANDROID: "ANDROID", Platform.IOS: "iOS"}


def _utc(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else ""


@action("QueryDeviceInfo")
def query_device_info(call: Call, p: Params, perm: str) -> dict:
    app = _app(call, p, perm)
    device = _device(app, p)
    p.finish()
    aliases = DeviceAlias.objects.filter(device=device).order_by("alias").values_list("alias", flat=True)
    tags = Tag.objects.filter(app=app, devices=device).order_by("name").values_list("name", flat=True)
    return {
        "DeviceInfo": {
            "DeviceId": device.device_id,
            "DeviceType": DEVICE_TYPE_NAMES.get(device.platform, device.platform),
            "DeviceToken": device.apns_token or device.vendor_token or device.fcm_token,
            "Account": device.account,
            "Alias": ",".join(aliases),
            "Tags": ",".join(tags),
            "PhoneNumber": device.phone_number,
            "Online": device.online,
            "LastOnlineTime": _utc(device.last_seen_at or device.last_active_at),
            "PushEnabled": device.token_dead_at is None,
            "Brand": device.manufacturer,
            "Model": "",
        }
    }


__all__ = ["ACTIONS", "VERSION", "Call", "EmasError", "run"]
