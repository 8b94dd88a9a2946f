"""Writes of the send area: submit, approve, cancel, stop, test send, scheduled dispatch.

A submitted send is a PushTask holding PENDING Messages; the delivery engine picks
it up through `campaigns.delivery.tasks.dispatch_task` once it is QUEUED.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from campaigns.audience import audience_size
from campaigns.codes import ApiCode, PushError
from campaigns.delivery import ready
from campaigns.models import (
    DEVICE_TARGETS,
    UPLOAD_SENDABLE,
    UPLOAD_WORKING,
    Device,
    Message,
    Platform,
    PushTask,
    PushType,
    SendUpload,
    TargetType,
    TaskStatus,
    UploadStatus,
    UserBinding,
)
from console import appcache, rowsql
from console.audit import audit_entry, audit_logged, audit_record
from console.models import App, AuditEntry, language_of
from templates_app.images import public_image_url
from templates_app.models import TemplateVersion
from templates_app.rendering import render_message

from . import csvingest, rules

logger = logging.getLogger(__name__)

DISPATCH_TASK = "campaigns.delivery.tasks.dispatch_task"
STOP_TASK = "campaigns.delivery.tasks.deliver_task_stop"
STOP_COUNT_EXACT = 10_000
# Target types resolved per target id (one Message each); the others are one Message.
PER_TARGET_TYPES = {TargetType.USER, TargetType.ANDROID_DEVICE, TargetType.IOS_DEVICE, TargetType.DEVICE}


@dataclass
class SendSpec:
    """One send as the forms and the API describe it, before it is saved."""

    push_type: str
    target_type: str
    name: str = ""
    # Per-target sends: (target id, customer message id, placeholder values, extras).
    targets: list[tuple[str, str]] = field(default_factory=list)
    # Simple and template sends take 10 target ids; the EMAS door's Push takes up to 1,000 devices.
    target_limit: int = rules.SINGLE_PUSH_MAX_TARGETS
    # A broadcast written out (the EMAS door's pushes to accounts, aliases, tags or all devices):
    # its own title and body instead of a template, to one platform or both, no unBindPeriod.
    literal: bool = False
    row_values: dict[str, dict] = field(default_factory=dict)
    row_extras: dict[str, dict] = field(default_factory=dict)
    # Group sends (broadcast, accounts, aliases, tag, all).
    target_values: list[str] = field(default_factory=list)
    tag_expression: object = None
    platform: str = ""
    unbind_period: int | None = None
    customer_msg_id: str = ""
    # Content.
    template_version: TemplateVersion | None = None
    values: dict[str, str] = field(default_factory=dict)
    title: str = ""
    body: str = ""
    url: str = ""
    activity: str = ""
    click_action: str = "open_app"
    display_type: str = "notification"
    display_style: str = "default"
    icon_url: str = ""
    image_url: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    channel: str = "auto"  # auto (vendor when configured) | selfbuilt
    expire_seconds: int = rules.EXPIRE_DEFAULT_SECONDS
    scheduled_at: datetime | None = None

    @property
    def silent(self) -> bool:
        return self.display_type == "silent"

    def content_from_template(self) -> None:
        """Template sends: display type, click action and texts come from the version, read-only."""
        v = self.template_version
        if v is None:
            return
        self.title, self.body, self.url = v.title, v.body, v.url
        # An explicit pass-through flag (API `silent`) wins; otherwise the template decides.
        self.display_type = "silent" if self.display_type == "silent" else v.display_type
        self.display_style, self.click_action = v.display_style, v.click_action
        self.activity = v.activity
        # An uploaded file is sent as its public signed URL (gateways and phones fetch it).
        self.icon_url = self.icon_url or v.icon_url or public_image_url(v, "icon")
        self.image_url = self.image_url or v.image_url or public_image_url(v, "image")

    def payload(self, *, url: str, extras: dict | None = None) -> dict:
        return {
            "display_type": self.display_type,
            "display_style": self.display_style,
            "click_action": self.click_action,
            "url": url,
            "activity": self.activity,
            "icon_url": self.icon_url,
            "image_url": self.image_url,
            "extras": {**self.extras, **(extras or {})},
            # Silent (pass-through) messages always go through the self-built channel.
            "android_channel": "selfbuilt" if self.silent else self.channel,
            "silent": self.silent,
        }

    def group_params(self) -> dict:
        return {
            "target_type": self.target_type,
            "target_values": self.target_values,
            "tag_expression": self.tag_expression,
            "platform": self.platform,
            "unbind_period": self.unbind_period,
        }


def _platform_of(target_type: str, platform: str) -> str:
    if target_type == TargetType.ANDROID_DEVICE:
        return Platform.ANDROID
    if target_type == TargetType.IOS_DEVICE:
        return Platform.IOS
    return platform


def vendor_notes(*, app: App, spec: SendSpec, messages: list[dict]) -> list[dict]:
    """The vendor limits this send goes beyond (rules.vendor_limit_notes): only for the app's switched-on vendor
    channels, and not for iOS or self-built-only sends. One query, none for an app a signed call named."""
    from console.models import VendorChannel

    if spec.silent or spec.channel == "selfbuilt" or not messages:
        return []
    if all(m.get("platform") == Platform.IOS for m in messages):
        return []
    vendors = getattr(app, "enabled_vendors", None)  # kept with an app a signed API call named
    if vendors is None:
        vendors = set(VendorChannel.objects.filter(app=app, enabled=True).values_list("vendor", flat=True))
    if not vendors:
        return []
    return rules.vendor_limit_notes(
        vendors=vendors,
        title_length=max(len(m.get("title") or "") for m in messages),
        body_length=max(len(m.get("body") or "") for m in messages),
        expire_seconds=spec.expire_seconds,
    )


TEMPLATED_TYPES = (PushType.TEMPLATE, PushType.MULTIPLE, PushType.BROADCAST)


def send_validate(*, app: App, spec: SendSpec, now: datetime | None = None, check_taken: bool = True) -> list[dict]:
    """Check every rule and render every message. Returns message dicts (nothing saved).

    `check_taken=False` leaves the customer message ids already used to the unique constraint
    (send_submit: one query less per send, the same refusal)."""
    now = now or timezone.now()
    templated = (PushType.TEMPLATE, PushType.MULTIPLE) if spec.literal else TEMPLATED_TYPES
    if spec.push_type in templated and spec.template_version is None:
        raise PushError(ApiCode.NEED_TEMPLATE, "choose a template")
    spec.content_from_template()
    spec.expire_seconds = rules.check_expire_seconds(spec.expire_seconds)
    spec.extras = rules.check_extras(spec.extras)
    rules.check_schedule(spec.scheduled_at, now=now)
    rules.check_texts(name=spec.name, title=spec.title, body=spec.body)
    rules.check_url(spec.icon_url, "the icon URL")
    rules.check_url(spec.image_url, "the large image URL")
    if spec.channel not in ("auto", "selfbuilt"):
        raise PushError(ApiCode.ANDROID_CHANNEL_PARAM_INVALID, "channel is auto or selfbuilt")
    platform = _platform_of(spec.target_type, spec.platform)
    if spec.push_type == PushType.BROADCAST and not spec.literal:
        if platform not in (Platform.ANDROID, Platform.IOS):
            raise PushError(ApiCode.BROADCAST_ONLY_SUPPORT_BY_DEVICE, "a broadcast goes to one platform")
        if spec.target_type == TargetType.ALL:
            spec.unbind_period = rules.check_unbind_period(
                platform=platform, unbind_period=spec.unbind_period, channel=spec.payload(url="")["android_channel"]
            )
    if platform == Platform.IOS:
        reason = rules.ios_block_reason(app)
        if reason:
            raise PushError(ApiCode.OS_TYPE_NOT_SUPPORTED, reason)
    expires_at = (spec.scheduled_at or now) + timedelta(seconds=spec.expire_seconds)
    messages = []
    if spec.target_type in PER_TARGET_TYPES:
        if spec.push_type in (PushType.SIMPLE, PushType.TEMPLATE):
            rules.check_single_targets([t for t, _ in spec.targets], limit=spec.target_limit)
        if not spec.targets:
            raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "give at least one target id")
        for target_id, cmid in spec.targets:
            values = {**spec.values, **spec.row_values.get(cmid, {})}
            extras = spec.row_extras.get(cmid, {})
            messages.append(
                _render(
                    spec,
                    target_id=target_id,
                    cmid=cmid,
                    values=values,
                    extras=extras,
                    platform=platform,
                    expires_at=expires_at,
                )
            )
    else:
        spec.target_values = list(dict.fromkeys(v.strip() for v in spec.target_values if v and v.strip()))
        if spec.target_type in (TargetType.ACCOUNT, TargetType.ALIAS, TargetType.DEVICE):
            if not spec.target_values:
                raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "give at least one target")
            if len(spec.target_values) > rules.BATCH_MAX_TARGETS:
                raise PushError(ApiCode.MULTIPLE_TARGET_NUMBER_TOO_MUCH, "at most 1,000 targets per request")
        messages.append(
            _render(
                spec,
                target_id="",
                cmid=spec.customer_msg_id or rules.new_customer_msg_id(),
                values=spec.values,
                extras={},
                platform=platform,
                expires_at=expires_at,
            )
        )
    cmids = [m["customer_msg_id"] for m in messages]
    if len(set(cmids)) != len(cmids):
        raise PushError(ApiCode.INVALID_PARAM, "a customer message id appears twice")
    if check_taken:
        _refuse_taken(app, cmids)
    return messages


def _refuse_taken(app: App, cmids: list[str]) -> None:
    taken = rules.customer_msg_ids_taken(app, cmids)
    if taken:
        raise PushError(ApiCode.INVALID_PARAM, "customer message id already used: " + ", ".join(taken[:10]))


def _render(spec: SendSpec, *, target_id, cmid, values, extras, platform, expires_at) -> dict:
    cmid = rules.check_customer_msg_id(cmid)
    extras = (
        rules.check_extras(
            extras, limit=rules.MULTIPLE_API_MAX_EXTRAS, too_many=ApiCode.MULTIPLE_INNER_EXTEND_PARAM_TO_MUCH
        )
        if extras
        else {}
    )
    if spec.template_version is not None:
        rendered = render_message(title=spec.title, body=spec.body, url=spec.url, values=values, platform=platform)
        title, body, url = rendered.title, rendered.body, rendered.url
    else:
        title, body, url = spec.title, spec.body, spec.url
        if not title.strip() or not body.strip():
            raise PushError(ApiCode.PAYLOAD_NOT_ENOUGH, "title and body are required")
        render_message(title=title.replace("#", ""), body=body.replace("#", ""), url="", platform=platform)
    rules.check_url(url)
    payload = spec.payload(url=url, extras=extras)
    rules.check_payload_size(payload, title=title, body=body)
    return {
        "customer_msg_id": cmid,
        "target_type": spec.target_type,
        "target_id": target_id,
        "platform": platform,
        "title": title,
        "body": body,
        "payload": payload,
        "expires_at": expires_at,
    }


def send_audience(*, app: App, spec: SendSpec) -> int:
    """How many devices the send reaches (shown before submit, used for approval)."""
    platform = _platform_of(spec.target_type, spec.platform)
    if spec.target_type in PER_TARGET_TYPES:
        ids = [t for t, _ in spec.targets]
        return audience_size(app=app, target_type=spec.target_type, target_ids=ids, platform=platform)
    return audience_size(
        app=app,
        target_type=spec.target_type,
        target_ids=spec.target_values,
        platform=platform,
        tag_expression=spec.tag_expression,
        unbind_period=spec.unbind_period,
    )


def _needs_approval(app: App, *, push_type: str, target_type: str, count: int) -> bool:
    if app.approval_for_broadcast and (
        push_type == PushType.BROADCAST or target_type in (TargetType.ALL, TargetType.TAG)
    ):
        return True
    return count > app.approval_threshold


def _enqueue_dispatch(task: PushTask, *, small: bool = False) -> None:
    """After the commit: a small send joins the ready list (delivery.ready: no broker message of
    its own under load), any other publishes its own dispatch message."""
    task_id = task.pk

    def enqueue() -> None:
        if small and ready.add(task_id, lambda: current_app.send_task(ready.DRAIN_TASK, queue="dispatch")):
            return
        current_app.send_task(DISPATCH_TASK, args=[task_id], queue="dispatch")

    transaction.on_commit(enqueue)


def _initial_status(app: App, *, spec_push_type: str, target_type: str, count: int, scheduled_at) -> str:
    if _needs_approval(app, push_type=spec_push_type, target_type=target_type, count=count):
        return TaskStatus.AWAITING_APPROVAL
    return TaskStatus.SCHEDULED if scheduled_at else TaskStatus.QUEUED


def task_for_idempotency(app: App, key: str | None) -> PushTask | None:
    if not key:
        return None
    return PushTask.objects.filter(app=app, idempotency_key=key).first()


# Names of sends made without one, with the local time (the console's in the marketer's language).
_DEFAULT_NAMES = {
    "send": (gettext_noop("Console %(time)s"), "API %(time)s"),
    "test": (gettext_noop("Test %(time)s"), "Test %(time)s"),
    "continuous": (gettext_noop("Continuous %(time)s"), "Continuous %(time)s"),
}


def default_task_name(now: datetime | None = None, *, source: str, kind: str = "send") -> str:
    console_name, api_name = _DEFAULT_NAMES[kind]
    name = gettext(console_name) if source == "console" else api_name
    return name % {"time": f"{timezone.localtime(now or timezone.now()):%Y%m%d%H%M%S}"}


def send_submit(
    *,
    app: App,
    spec: SendSpec,
    source: str,
    actor=None,
    api_caller: str = "",
    idempotency_key: str | None = None,
    request=None,
    now: datetime | None = None,
) -> tuple[PushTask, bool]:
    """Validate, save the task and its messages, audit, and enqueue. Returns (task, created).

    A repeated idempotency key returns the first task untouched.
    """
    existing = task_for_idempotency(app, idempotency_key)
    if existing is not None:
        appcache.confirm(app)  # an answer without a guarded write
        return existing, False
    now = now or timezone.now()
    messages = send_validate(app=app, spec=spec, now=now, check_taken=False)
    if spec.target_type in DEVICE_TARGETS:
        # A device id names at most one device of the app: the ids asked for are the count
        # approval needs (those without a device yet included), with no query.
        count = max(len({target for target, _values in spec.targets}), len(messages))
    else:
        count = send_audience(app=app, spec=spec)
        if spec.target_type in PER_TARGET_TYPES:
            # Approval counts targets asked for, even those without a device yet.
            count = max(count, len(messages))
    task = PushTask(
        app=app,
        name=spec.name or default_task_name(now, source=source),
        push_type=spec.push_type,
        source=source,
        created_by=actor,
        api_caller=api_caller,
        template_version=spec.template_version,
        params={
            **spec.group_params(),
            "values": spec.values,
            "expire_seconds": spec.expire_seconds,
            "payload": spec.payload(url=spec.url),
            "vendor_notes": vendor_notes(app=app, spec=spec, messages=messages),
        },
        status=_initial_status(
            app,
            spec_push_type=spec.push_type,
            target_type=spec.target_type,
            count=count,
            scheduled_at=spec.scheduled_at,
        ),
        idempotency_key=idempotency_key,
        created_at=now,
        scheduled_at=spec.scheduled_at,
        total_rows=len(messages),
        target_count=count,
    )
    rows = [
        Message(app=app, task=task, push_type=spec.push_type, created_at=now, status_changed_at=now, **m)
        for m in messages
    ]
    entry = audit_entry(
        action="send.submit",
        actor=actor,
        actor_label=api_caller,
        app=app,
        summary={
            "push_type": spec.push_type,
            "source": source,
            "messages": len(messages),
            "targets": count,
            "status": task.status,
        },
        request=request,
    )
    try:
        # On PostgreSQL the send is one statement: a transaction of its own, no BEGIN or COMMIT
        # round trip (the dispatch is queued once it returns). Elsewhere a transaction holds the INSERTs.
        one_statement = connection.vendor == "postgresql" and not connection.in_atomic_block
        with contextlib.nullcontext() if one_statement else transaction.atomic():
            _save_send(task, rows, entry)
            if task.status == TaskStatus.QUEUED:
                small = spec.target_type in PER_TARGET_TYPES and len(messages) <= rules.MULTIPLE_API_MAX_TARGETS
                _enqueue_dispatch(task, small=small)
    except IntegrityError:
        appcache.confirm(app)
        # A concurrent retry with the same key won the race: answer with its task.
        existing = task_for_idempotency(app, idempotency_key)
        if existing is None:
            # customer_msg_id_unique_per_app: say which ids, as send_validate would have
            _refuse_taken(app, [m["customer_msg_id"] for m in messages])
            raise PushError(ApiCode.INVALID_PARAM, "customer message id already used") from None
        return existing, False
    audit_logged(entry)
    return task, True


_NO_TASK = frozenset({"task_id"})
_NO_TARGET = frozenset({"target"})


def _save_send(task: PushTask, messages: list[Message], entry: AuditEntry) -> None:
    """Save a send's task, its messages and its audit entry (target "task <id>"), all or none. Sets `task.created_message_ids` (customerMsgId -> id) for the answer.

    On PostgreSQL the three INSERTs are one statement: one round trip, and no ORM compile per row
    (`console.rowsql`). Elsewhere (the embedded SQLite) the ORM saves them.
    """
    if connection.vendor != "postgresql":
        task.save(force_insert=True)
        for message in messages:
            message.task = task
        created = Message.objects.bulk_create(messages)
        task.created_message_ids = {m.customer_msg_id: m.pk for m in created}
        entry.target = f"task {task.pk}"
        entry.save()
        return
    expected = appcache.expected_generation(task.app)
    params = [*rowsql.values(task), expected, *rowsql.values(entry, _NO_TARGET)]
    for message in messages:
        params += rowsql.values(message, _NO_TASK)
    with rowsql.prepared_cursor() as cursor:
        cursor.execute(_insert_send_sql(len(messages)), params)
        found = cursor.fetchall()
    if not found:
        # Only the generation guard writes nothing: the configuration the call trusted moved.
        raise appcache.Stale
    task_id, entry_id = found[0][0], found[0][1]
    rowsql.saved(task, task_id)
    rowsql.saved(entry, entry_id).target = f"task {task_id}"
    ids = {cmid: pk for _t, _a, pk, cmid in found if pk is not None}
    for message in messages:
        rowsql.saved(message, ids[message.customer_msg_id]).task_id = task_id
    task.created_message_ids = ids


def _insert_send_sql(message_count: int) -> str:
    return _small_send_sql(message_count) if message_count <= 16 else _build_send_sql(message_count)


@functools.cache
def _small_send_sql(message_count: int) -> str:
    return _build_send_sql(message_count)


def _build_send_sql(message_count: int) -> str:
    messages = (
        f"m AS (INSERT INTO {rowsql.table(Message)} (task_id, {rowsql.columns(Message, _NO_TASK)}) "
        f"SELECT t.id, v.* FROM t, (VALUES "
        + ", ".join([f"({rowsql.typed_placeholders(Message, _NO_TASK)})"] * message_count)
        + ") AS v RETURNING id, customer_msg_id)"
        if message_count
        else "m AS (SELECT NULL::bigint AS id, NULL::varchar AS customer_msg_id WHERE false)"
    )
    # g: the app configuration's generation, which must be the one the call trusted (console.appcache).
    return (
        f"WITH g AS ({appcache.GUARD}), "
        f"t AS (INSERT INTO {rowsql.table(PushTask)} ({rowsql.columns(PushTask)}) "
        f"SELECT {rowsql.typed_placeholders(PushTask)} FROM g "
        "WHERE g.generation = COALESCE(%s::bigint, g.generation) RETURNING id), "
        f"a AS (INSERT INTO {rowsql.table(AuditEntry)} ({rowsql.columns(AuditEntry, _NO_TARGET)}, target) "
        f"SELECT {rowsql.typed_placeholders(AuditEntry, _NO_TARGET)}, 'task ' || t.id FROM t RETURNING id), "
        f"{messages} "
        "SELECT t.id, a.id, m.id, m.customer_msg_id FROM t CROSS JOIN a LEFT JOIN m ON true"
    )


def _locked_task(app: App, task_id: int) -> PushTask:
    task = PushTask.objects.select_for_update().filter(app=app, pk=task_id).first()
    if task is None:
        raise PushError(ApiCode.INVALID_PARAM, "no such task")
    return task


@transaction.atomic
def task_approve(*, app: App, task_id: int, actor, request=None) -> PushTask:
    """A second person with the send permission releases a send waiting for approval."""
    task = _locked_task(app, task_id)
    if task.status != TaskStatus.AWAITING_APPROVAL:
        raise PushError(ApiCode.INVALID_PARAM, "this send is not waiting for approval")
    if task.created_by_id is not None and task.created_by_id == actor.pk:
        raise PushError(ApiCode.INVALID_PARAM, "a send must be approved by someone else")
    now = timezone.now()
    task.approved_by, task.approved_at = actor, now
    task.status = TaskStatus.SCHEDULED if task.scheduled_at and task.scheduled_at > now else TaskStatus.QUEUED
    task.save(update_fields=["approved_by", "approved_at", "status"])
    audit_record(
        action="send.approve",
        actor=actor,
        app=app,
        target=f"task {task.pk}",
        summary={"targets": task.target_count},
        request=request,
    )
    if task.status == TaskStatus.QUEUED:
        _enqueue_dispatch(task)
    return task


@transaction.atomic
def task_reject(*, app: App, task_id: int, actor, request=None) -> PushTask:
    task = _locked_task(app, task_id)
    if task.status != TaskStatus.AWAITING_APPROVAL:
        raise PushError(ApiCode.INVALID_PARAM, "this send is not waiting for approval")
    task.status = TaskStatus.REJECTED
    task.save(update_fields=["status"])
    task.cancelled_count = _cancel_open_messages_later(task)
    audit_record(action="send.reject", actor=actor, app=app, target=f"task {task.pk}", request=request)
    return task


def _cancel_open_messages(task: PushTask) -> int:
    """Every open message (and delivery) ends CANCELLED through the one status path, with its timeline.
    O(messages): call it from a worker only."""
    from campaigns.delivery.dispatch import task_stop_deliveries

    return task_stop_deliveries(task_id=task.pk)


def _cancel_open_messages_later(task: PushTask) -> int:
    """A web request only ends the task; a worker cancels its open messages in committed batches
    (a 2.5 M-message send would not fit in one request). Returns how many are to be cancelled."""
    from campaigns.models import FINAL_STATES, MessageState

    task_id = task.pk
    transaction.on_commit(lambda: current_app.send_task(STOP_TASK, args=[task_id], queue="dispatch"))
    # The figure the page and the API report, with bounded work: counted up to STOP_COUNT_EXACT
    # open messages (index on task, state); beyond that, from the task's own counters.
    open_states = [s for s in MessageState if s not in FINAL_STATES]
    open_messages = Message.objects.filter(task_id=task_id, state__in=open_states)
    counted = open_messages[: STOP_COUNT_EXACT + 1].count()
    if counted <= STOP_COUNT_EXACT:
        return counted
    return max(counted, task.total_rows - task.succeeded - task.failed)


# Tasks a person may still stop (running) or cancel (not started yet).
STOPPABLE = frozenset(
    {TaskStatus.SCHEDULED, TaskStatus.AWAITING_APPROVAL, TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.INGESTING}
)


def _task_end(
    *, app: App, task_id: int, actor, request, allowed: set[str], refusal: str, status: str, action: str, count_key: str
) -> PushTask:
    """End a task in `status`; its open messages end CANCELLED; audited as `action`."""
    task = _locked_task(app, task_id)
    if task.status not in allowed:
        raise PushError(ApiCode.INVALID_PARAM, refusal)
    task.status = status
    task.finished_at = timezone.now()
    task.save(update_fields=["status", "finished_at"])
    cancelled = _cancel_open_messages_later(task)
    task.cancelled_count = cancelled
    audit_record(
        action=action, actor=actor, app=app, target=f"task {task.pk}", summary={count_key: cancelled}, request=request
    )
    return task


@transaction.atomic
def task_cancel(*, app: App, task_id: int, actor, request=None) -> PushTask:
    """Cancel a scheduled (or waiting) send before it starts."""
    return _task_end(
        app=app,
        task_id=task_id,
        actor=actor,
        request=request,
        allowed={TaskStatus.SCHEDULED, TaskStatus.AWAITING_APPROVAL},
        refusal="only a scheduled or waiting send can be cancelled",
        status=TaskStatus.CANCELLED,
        action="send.cancel",
        count_key="messages",
    )


@transaction.atomic
def task_stop(*, app: App, task_id: int, actor, request=None) -> PushTask:
    """Stop a running send: the engine checks the status before each chunk; the rest is cancelled."""
    return _task_end(
        app=app,
        task_id=task_id,
        actor=actor,
        request=request,
        allowed={TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.INGESTING},
        refusal="only a queued or running send can be stopped",
        status=TaskStatus.STOPPED,
        action="send.stop",
        count_key="messages_cancelled",
    )


def test_devices(app: App) -> QuerySet[Device]:
    return Device.objects.filter(app=app, is_test_device=True)


def send_test(*, app: App, spec: SendSpec, actor, request=None) -> PushTask:
    """The same message to the app's saved test devices only (no approval, sent now)."""
    devices = list(test_devices(app).values_list("device_id", "platform"))
    if not devices:
        raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "this app has no test devices")
    spec.push_type = PushType.TEMPLATE if spec.template_version else PushType.SIMPLE
    spec.target_type = TargetType.DEVICE
    spec.scheduled_at = None
    spec.targets = [(device_id, rules.new_customer_msg_id()) for device_id, _ in devices]
    spec.name = default_task_name(source="console", kind="test")
    spec.platform = ""
    messages = send_validate(app=app, spec=spec)
    with transaction.atomic():
        task = PushTask.objects.create(
            app=app,
            name=spec.name,
            push_type=spec.push_type,
            source="console",
            created_by=actor,
            template_version=spec.template_version,
            params={"test_send": True, "values": spec.values},
            total_rows=len(messages),
            target_count=len(messages),
        )
        platforms = dict(devices)
        Message.objects.bulk_create(
            [
                Message(app=app, task=task, push_type=spec.push_type, **{**m, "platform": platforms[m["target_id"]]})
                for m in messages
            ]
        )
        audit_record(
            action="send.test",
            actor=actor,
            app=app,
            target=f"task {task.pk}",
            summary={"devices": len(messages)},
            request=request,
        )
        _enqueue_dispatch(task)
    return task


def dispatch_due_sends(*, now: datetime | None = None) -> list[int]:
    """Scheduled sends whose time has come: SCHEDULED -> QUEUED, then enqueue each."""
    now = now or timezone.now()
    released = []
    with transaction.atomic():
        due = PushTask.objects.select_for_update(skip_locked=True).filter(
            status=TaskStatus.SCHEDULED, scheduled_at__lte=now
        )
        for task in due:
            task.status = TaskStatus.QUEUED
            task.save(update_fields=["status"])
            _enqueue_dispatch(task)
            released.append(task.pk)
    return released


# Multiple push: upload -> background validation -> confirmation -> background ingest.


def upload_create(*, app: App, file, spec: SendSpec, actor, request=None) -> SendUpload:
    """Keep the uploaded file and queue its validation (rules checked first, on the form fields)."""
    if spec.template_version is None:
        raise PushError(ApiCode.NEED_TEMPLATE, "choose a template")
    spec.content_from_template()
    spec.expire_seconds = rules.check_expire_seconds(spec.expire_seconds)
    spec.extras = rules.check_extras(spec.extras)
    rules.check_schedule(spec.scheduled_at)
    platform = _platform_of(spec.target_type, spec.platform)
    if platform == Platform.IOS and (reason := rules.ios_block_reason(app)):
        raise PushError(ApiCode.OS_TYPE_NOT_SUPPORTED, reason)
    with transaction.atomic():
        upload = SendUpload(
            app=app,
            kind="csv",
            original_name=(file.name or "upload.csv")[:255],
            size=file.size,
            created_by=actor,
            template_version=spec.template_version,
            status=UploadStatus.UPLOADED,
            params={
                "name": spec.name,
                "target_type": spec.target_type,
                "platform": platform,
                "channel": spec.channel,
                "expire_seconds": spec.expire_seconds,
                "extras": spec.extras,
                "scheduled_at": spec.scheduled_at.isoformat() if spec.scheduled_at else None,
                "icon_url": spec.icon_url,
                "image_url": spec.image_url,
            },
        )
        upload.file.save(f"multiple-{app.app_key}.csv", file, save=False)
        upload.save()
        audit_record(
            action="send.upload",
            actor=actor,
            app=app,
            target=f"upload {upload.pk}",
            summary={"bytes": file.size, "name": upload.original_name},
            request=request,
        )
        upload_id = upload.pk
        transaction.on_commit(
            lambda: current_app.send_task("campaigns.sends.tasks.ingest_upload", args=[upload_id], queue="ingest")
        )
    return upload


def upload_validate(*, upload_id: int) -> SendUpload:
    """Stream the file through the line checks and stage the good rows (the ingest worker calls this)."""
    upload = SendUpload.objects.select_related("template_version", "created_by__profile").get(pk=upload_id)
    if upload.status not in UPLOAD_WORKING:
        return upload
    SendUpload.objects.filter(pk=upload.pk).update(status=UploadStatus.VALIDATING, bytes_done=0)
    csvingest.SendUploadRow.objects.filter(upload=upload).delete()
    template = csvingest.Template.of(upload.template_version, upload.params.get("platform", ""))

    def progress(done: int, lines: int) -> None:
        SendUpload.objects.filter(pk=upload.pk).update(bytes_done=done, line_count=lines)

    # The reasons for bad lines (page and report) are written in the uploader's language.
    with upload.file.open("rb") as stream, translation.override(language_of(upload.created_by)):
        outcome = csvingest.validate_stream(stream, upload=upload, template=template, progress=progress)
    if outcome.failure or not outcome.good:
        upload.status = UploadStatus.INVALID
    else:
        upload.status = UploadStatus.PARTIAL if outcome.bad else UploadStatus.VALID
    upload.bytes_done = upload.size
    upload.line_count = outcome.lines
    upload.good_count = outcome.good
    upload.bad_count = outcome.bad
    upload.errors = outcome.errors
    upload.preview = outcome.preview
    upload.failure = outcome.failure
    if outcome.good and not outcome.failure:
        upload.params = {**upload.params, "reach": upload_reach(upload)}
    upload.save()
    return upload


def upload_reach(upload: SendUpload) -> int:
    """How many good lines reach a device now (a bound user id, a registered device id): the
    estimate shown before sending. One join over the staged rows, in the worker."""
    rows = csvingest.SendUploadRow.objects.filter(upload_id=upload.pk)
    target_type = upload.params.get("target_type") or TargetType.USER
    if target_type == TargetType.USER:
        bound = UserBinding.objects.filter(app_id=upload.app_id, user_id=OuterRef("target_id"))
    else:
        bound = Device.objects.filter(app_id=upload.app_id, device_id=OuterRef("target_id"))
    return rows.filter(Exists(bound)).count()


def upload_confirm(
    *,
    app: App,
    upload_id: int,
    actor,
    idempotency_key: str | None = None,
    skip_bad: bool = False,
    request=None,
) -> tuple[PushTask, bool]:
    """The marketer confirmed a checked file: create the task; its messages are ingested in the background.

    A file with bad lines is sent only with `skip_bad`: its good lines, without the bad ones.
    """
    existing = task_for_idempotency(app, idempotency_key)
    if existing is not None:
        return existing, False
    with transaction.atomic():
        upload = SendUpload.objects.select_for_update().filter(app=app, pk=upload_id, kind="csv").first()
        if upload is not None and upload.status == UploadStatus.PARTIAL and not skip_bad:
            raise PushError(
                ApiCode.NEED_FILE,
                f"this file has {upload.bad_count} bad lines: fix it, or confirm sending its "
                f"{upload.good_count} good lines without them",
            )
        if upload is None or upload.status not in UPLOAD_SENDABLE:
            raise PushError(ApiCode.NEED_FILE, "this file was not validated or was already sent")
        p = upload.params
        scheduled_at = datetime.fromisoformat(p["scheduled_at"]) if p.get("scheduled_at") else None
        if scheduled_at:
            rules.check_schedule(scheduled_at)
        version = upload.template_version
        now = timezone.now()
        task = PushTask.objects.create(
            app=app,
            name=p.get("name") or default_task_name(now, source="console"),
            push_type=PushType.MULTIPLE,
            source="console",
            created_by=actor,
            template_version=version,
            params={**p, "upload_id": upload.pk},
            status=TaskStatus.INGESTING,
            idempotency_key=idempotency_key,
            scheduled_at=scheduled_at,
            total_rows=upload.good_count,
            target_count=upload.good_count,
        )
        upload.status = UploadStatus.USED
        upload.save(update_fields=["status"])
        audit_record(
            action="send.submit",
            actor=actor,
            app=app,
            target=f"task {task.pk}",
            summary={
                "push_type": PushType.MULTIPLE,
                "source": "console",
                "messages": upload.good_count,
                "upload": upload.pk,
                "bad_lines_skipped": upload.bad_count,
            },
            request=request,
        )
        task_id = task.pk
        transaction.on_commit(
            lambda: current_app.send_task(
                "campaigns.sends.tasks.ingest_upload_messages", args=[task_id], queue="ingest"
            )
        )
    return task, True


def upload_ingest_messages(*, task_id: int) -> PushTask:
    """Staged rows -> Message rows, then release the task like any other send."""
    task = PushTask.objects.select_related("app", "template_version").get(pk=task_id)
    if task.status != TaskStatus.INGESTING:
        return task
    upload = SendUpload.objects.get(pk=task.params["upload_id"])
    p = task.params
    version = task.template_version
    spec = SendSpec(
        push_type=PushType.MULTIPLE,
        target_type=p["target_type"],
        template_version=version,
        channel=p.get("channel", "auto"),
        extras=p.get("extras", {}),
        icon_url=p.get("icon_url", ""),
        image_url=p.get("image_url", ""),
    )
    spec.content_from_template()
    now = timezone.now()
    start = task.scheduled_at or now
    # The task stays "ingesting" (never dispatched) until its messages are all in.
    try:
        count = csvingest.ingest_messages(
            upload=upload,
            task_id=task.pk,
            message_defaults={
                "push_type": PushType.MULTIPLE,
                "target_type": p["target_type"],
                "platform": p.get("platform", ""),
                "payload": spec.payload(url=""),
                "created_at": now,
                "expires_at": start + timedelta(seconds=p.get("expire_seconds", rules.EXPIRE_DEFAULT_SECONDS)),
            },
        )
    except IntegrityError:
        # Another send took one of the file's customerMsgIds after the file was checked:
        # the ingest removed what it made; the task fails with the reason, nothing is sent.
        logger.warning("task %s: a customerMsgId of the file was taken meanwhile", task.pk)
        PushTask.objects.filter(pk=task.pk, status=TaskStatus.INGESTING).update(
            status=TaskStatus.FAILED,
            status_reason=gettext_noop(
                "A customerMsgId of the file was used by another send after the file was checked."
            ),
            finished_at=timezone.now(),
        )
        task.refresh_from_db()
        return task
    with transaction.atomic():
        task = PushTask.objects.select_for_update().get(pk=task.pk)
        if task.status != TaskStatus.INGESTING:  # stopped while ingesting
            _cancel_open_messages(task)
            return task
        task.ingested_rows = count
        task.status = _initial_status(
            task.app,
            spec_push_type=PushType.MULTIPLE,
            target_type=p["target_type"],
            count=count,
            scheduled_at=task.scheduled_at,
        )
        task.save(update_fields=["ingested_rows", "status"])
        if task.status == TaskStatus.QUEUED:
            _enqueue_dispatch(task)
    return task


# Continuous push: create the message once, then push it by id to further batches.


def continuous_create(
    *, app: App, spec: SendSpec, actor=None, api_caller: str = "", idempotency_key: str | None = None, request=None
) -> tuple[PushTask, bool]:
    """Render and keep the message (no target yet). The task id is the message id callers push."""
    existing = task_for_idempotency(app, idempotency_key)
    if existing is not None:
        return existing, False
    spec.content_from_template()
    spec.expire_seconds = rules.check_expire_seconds(spec.expire_seconds)
    spec.extras = rules.check_extras(spec.extras)
    rendered = _render(
        spec, target_id="", cmid="continuous", values=spec.values, extras={}, platform="", expires_at=timezone.now()
    )
    with transaction.atomic():
        task = PushTask.objects.create(
            app=app,
            name=spec.name or default_task_name(source="api" if api_caller else "console", kind="continuous"),
            push_type=PushType.CONTINUOUS,
            source="api" if api_caller else "console",
            created_by=actor,
            api_caller=api_caller,
            template_version=spec.template_version,
            params={
                "title": rendered["title"],
                "body": rendered["body"],
                "payload": rendered["payload"],
                "expire_seconds": spec.expire_seconds,
                "values": spec.values,
                "batches": 0,
            },
            status=TaskStatus.DRAFT,
            idempotency_key=idempotency_key,
        )
        audit_record(
            action="send.continuous.create",
            actor=actor,
            actor_label=api_caller,
            app=app,
            target=f"task {task.pk}",
            request=request,
        )
    return task, True


def continuous_push(
    *,
    app: App,
    task_id: int | None,
    target_type: str,
    target_values: list[str],
    actor=None,
    api_caller: str = "",
    idempotency_key: str | None = None,
    request=None,
) -> tuple[PushTask, bool]:
    """Push a continuous message to one more batch (at most 1,000 devices / accounts / aliases)."""
    # A target listed twice is one target: one message, one push.
    values = list(dict.fromkeys(v.strip() for v in target_values if v and v.strip()))
    if not values:
        raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "give at least one target")
    if len(values) > rules.BATCH_MAX_TARGETS:
        raise PushError(ApiCode.MULTIPLE_TARGET_NUMBER_TOO_MUCH, "at most 1,000 targets per call")
    with transaction.atomic():
        task = PushTask.objects.select_for_update().filter(app=app, pk=task_id, push_type=PushType.CONTINUOUS).first()
        if task is None:
            raise PushError(ApiCode.INVALID_PARAM, "no continuous message with this id")
        if task.status in (TaskStatus.STOPPED, TaskStatus.CANCELLED):
            raise PushError(ApiCode.INVALID_PARAM, "this continuous message was stopped")
        if task.params.get("completed"):
            raise PushError(ApiCode.INVALID_PARAM, "this continuous message was completed")
        p = task.params
        # A retried batch (same idempotentToken) is not pushed twice.
        if idempotency_key and idempotency_key in p.get("batch_keys", []):
            return task, False
        now = timezone.now()
        expires_at = now + timedelta(seconds=p.get("expire_seconds", rules.EXPIRE_DEFAULT_SECONDS))
        batch = p.get("batches", 0) + 1
        common = {
            "app": app,
            "task": task,
            "push_type": PushType.CONTINUOUS,
            "title": p["title"],
            "body": p["body"],
            "expires_at": expires_at,
            "created_at": now,
            "status_changed_at": now,
        }
        if target_type == TargetType.DEVICE:
            messages = [
                Message(
                    customer_msg_id=f"c{task.pk}-{batch}-{i}",
                    target_type=TargetType.DEVICE,
                    target_id=value,
                    payload=p["payload"],
                    **common,
                )
                for i, value in enumerate(values)
            ]
        else:
            messages = [
                Message(
                    customer_msg_id=f"c{task.pk}-{batch}",
                    target_type=target_type,
                    target_id="",
                    payload={**p["payload"], "target_values": values},
                    **common,
                )
            ]
        Message.objects.bulk_create(messages)
        keys = ([*p.get("batch_keys", []), idempotency_key] if idempotency_key else p.get("batch_keys", []))[-100:]
        kinds = sorted({*p.get("target_types", []), target_type})  # the push records page shows them
        task.params = {**p, "batches": batch, "batch_keys": keys, "target_types": kinds}
        task.status = TaskStatus.QUEUED
        task.target_count += len(values)
        task.total_rows += len(messages)
        task.save(update_fields=["params", "status", "target_count", "total_rows"])
        audit_record(
            action="send.continuous.push",
            actor=actor,
            actor_label=api_caller,
            app=app,
            target=f"task {task.pk}",
            summary={"batch": batch, "targets": len(values), "target_type": target_type},
            request=request,
        )
        _enqueue_dispatch(task)
    return task, True


@transaction.atomic
def continuous_complete(*, app: App, task_id: int, actor=None, api_caller: str = "", request=None) -> PushTask:
    """No more batches for this continuous message; batches already pushed go on to the end."""
    task = PushTask.objects.select_for_update().filter(app=app, pk=task_id, push_type=PushType.CONTINUOUS).first()
    if task is None:
        raise PushError(ApiCode.INVALID_PARAM, "no continuous message with this id")
    if task.params.get("completed") or task.status in (TaskStatus.STOPPED, TaskStatus.CANCELLED):
        raise PushError(ApiCode.INVALID_PARAM, "this continuous message was already completed or stopped")
    task.params = {**task.params, "completed": True}
    fields = ["params"]
    if task.status == TaskStatus.DRAFT:  # never pushed: nothing left to wait for
        task.status, task.finished_at = TaskStatus.FINISHED, timezone.now()
        fields += ["status", "finished_at"]
    task.save(update_fields=fields)
    audit_record(
        action="send.continuous.complete",
        actor=actor,
        actor_label=api_caller,
        app=app,
        target=f"task {task.pk}",
        summary={"batches": task.params.get("batches", 0)},
        request=request,
    )
    return task
