"""Fan-out: a task becomes chunks any worker can take; a chunk becomes gateway batches.

Idempotent by construction: deliveries are unique per (message, device) and created
with ignore_conflicts; only deliveries still open are sent, and a recorded result is
never sent again. A chunk of messages creates each gateway batch's deliveries just before
the send, already claimed (the INSERT is the claim: a row another run created first is
claimed, or not, by the usual conditional UPDATE). A chunk redelivered after a worker
died re-sends only the batch that was in flight, with the same push id (apns-id /
collapse id).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.audience import devices_for
from campaigns.codes import APNS_REASON_CODES, PushStatus
from campaigns.gateways import Gateway, GatewayError, GatewayResult, OutgoingPush
from campaigns.lookups import Many
from campaigns.models import (
    DEVICE_TARGETS,
    FINAL_STATES,
    Channel,
    Delivery,
    Device,
    FanoutRange,
    Message,
    MessageState,
    Platform,
    PushTask,
    PushType,
    TargetType,
    TaskStatus,
    UserBinding,
)
from console.dbstats import freshen_statistics
from console.health import credential_refused, credential_worked
from console.rowsql import pg_array

from . import status
from .channels import ChannelPlan, get_gateway, ios_send_block_reason
from .limits import SlotsBusy, app_slot, channel_slot

logger = logging.getLogger(__name__)

CREDENTIAL_RECHECK_SECONDS = 60.0
STOPPED = {TaskStatus.STOPPED, TaskStatus.CANCELLED}
# The columns a send reads of its messages and devices (routing, the push, the checks before it):
# a chunk builds hundreds of each, and the rest (timestamps above all) cost more to load than to send.
SEND_MESSAGE_FIELDS = (
    "task_id",
    "target_type",
    "target_id",
    "platform",
    "title",
    "body",
    "payload",
    "expires_at",
    "state",
)
SEND_DEVICE_FIELDS = (
    "app_id",
    "device_id",
    "platform",
    "package_name",
    "vendor",
    "vendor_token",
    "apns_token",
    "apns_environment",
    "fcm_token",
    "token_dead_at",
    "token_dead_reason",
)


@dataclass
class ChunkRetry:
    """Deliveries that met a transient error, and when to try them again (seconds from now).

    Waits longer than PUSHDECK_PARK_AFTER_SECONDS are parked in the database instead
    (next_attempt_at, queued by the beat sweep): a broker countdown that long would outlive
    its visibility timeout and be redelivered, every copy firing."""

    delivery_ids: list[int] = field(default_factory=list)
    retry_after: float = 0.0


def retry_wait(attempts: int, retry_after: float | None) -> float:
    """Seconds before the next try of a delivery sent `attempts` times: the gateway's Retry-After,
    at least an exponential backoff (base, 2*base, ... capped at 10 minutes)."""
    backoff = min(600.0, settings.PUSHDECK_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1)))
    return max(float(retry_after or 0.0), backoff)


def fanout_devices(task: PushTask, message: Message, *, now: datetime | None = None):
    """The devices a fan-out message (account, alias, tag, everyone) reaches, as a queryset.

    The targets are the message's own (a continuous batch) or the task's (a broadcast); a
    target listed twice counts once.
    """
    params = task.params or {}
    payload = message.payload or {}
    values = payload.get("target_values") or params.get("target_values") or params.get("target_ids") or []
    return devices_for(
        app=task.app,
        target_type=message.target_type or params.get("target_type"),
        target_ids=list(dict.fromkeys(values)),
        platform=params.get("platform") or message.platform,
        tag_expression=params.get("tag_expression"),
        unbind_period=params.get("unbind_period"),
        now=now,
    )


def _device_ranges(qs, size: int):
    """Keyset ranges [first id, last id] of `size` devices each, in id order, and their total.

    Reads `size` ids at a time: the dispatcher never holds the audience in memory, and a
    chunk's arguments are two numbers whatever the audience."""
    ids = qs.order_by("pk").values_list("pk", flat=True)
    ranges: list[tuple[int, int]] = []
    total, last = 0, 0
    while True:
        page = list(ids.filter(pk__gt=last)[:size])
        if not page:
            return ranges, total
        ranges.append((page[0], page[-1]))
        total += len(page)
        last = page[-1]


def task_dispatch(*, task_id: int, now: datetime | None = None) -> list[dict]:
    """Start a task: mark it running and return the chunk arguments to enqueue (deliver_chunk)."""
    now = now or timezone.now()
    size = settings.PUSHDECK_CHUNK_SIZE
    with transaction.atomic():
        task = PushTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None or task.status not in (TaskStatus.QUEUED, TaskStatus.RUNNING):
            return []
        if task.status == TaskStatus.QUEUED:
            task.status = TaskStatus.RUNNING
            task.started_at = task.started_at or now
            task.save(update_fields=["status", "started_at"])
    # The send reads its messages and their devices at volume: plans from statistics that have
    # not seen a big import or the task's own messages yet would read whole apps per chunk.
    freshen_statistics(Message, Device)
    chunks: list[dict] = []
    # Only messages not handed to a chunk yet: QUEUED ones already are (a continuous batch
    # dispatches the task again; the previous batch's messages are not queued twice).
    pending = Message.objects.filter(task_id=task_id, state=MessageState.PENDING)
    per_message_ids: list[int] = []
    fanout_ids: list[int] = []  # a message with no target id goes to many devices (broadcast, tags, ...)
    for pk, target_id in pending.order_by("pk").values_list("pk", "target_id").iterator(chunk_size=5000):
        (per_message_ids if target_id else fanout_ids).append(pk)
    fanout_total = 0
    for message in Message.objects.filter(pk__any=Many(fanout_ids)).order_by("pk"):
        ranges, total = _device_ranges(fanout_devices(task, message, now=now), size)
        Message.objects.filter(pk=message.pk).update(fanout_devices=total)
        fanout_total += total
        if not total:
            status.messages_close(
                [message.pk],
                state=MessageState.FAILED,
                status=PushStatus.NO_BIND_INFO,
                reason=f"no device matches the {message.get_target_type_display().lower()} target",
                now=now,
            )
            continue
        # Each range is marked done by its chunk: the message closes when the last one is.
        FanoutRange.objects.bulk_create(
            (FanoutRange(message_id=message.pk, first_device=first, last_device=last) for first, last in ranges),
            ignore_conflicts=True,
        )
        for first, last in ranges:
            chunks.append(
                {
                    "task_id": task_id,
                    "message_id": message.pk,
                    "device_range": [first, last],
                    "resolved_at": now.isoformat(),
                }
            )
    if fanout_ids and task.push_type != PushType.CONTINUOUS:
        # A broadcast's audience as resolved now (continuous batches count their targets).
        PushTask.objects.filter(pk=task_id).update(target_count=fanout_total)
    for start in range(0, len(per_message_ids), size):
        chunks.append({"task_id": task_id, "message_ids": per_message_ids[start : start + size]})
    if not chunks:
        status.task_maybe_finish(task_id, now=now)
    return chunks


def chunks_enqueued(chunks: list[dict]) -> None:
    """After the chunks are on the queue: messages leave PENDING so a re-dispatch skips them."""
    ids = [c["message_id"] for c in chunks if "message_id" in c]
    ids += [pk for c in chunks for pk in c.get("message_ids", [])]
    Message.objects.filter(pk__any=Many(ids), state=MessageState.PENDING).update(state=MessageState.QUEUED)


def _devices_by_message(app, messages: list[Message]) -> dict[int, list[Device]]:
    found: dict[int, list[Device]] = defaultdict(list)
    device_targets = [m for m in messages if m.target_type in DEVICE_TARGETS]
    if device_targets:
        devices = Device.objects.filter(app=app, device_id__any=Many([m.target_id for m in device_targets])).only(
            *SEND_DEVICE_FIELDS
        )
        by_id = {d.device_id: d for d in devices}
        for m in device_targets:
            device = by_id.get(m.target_id)
            wanted = {TargetType.ANDROID_DEVICE: Platform.ANDROID, TargetType.IOS_DEVICE: Platform.IOS}.get(
                m.target_type, m.platform
            )
            if device is not None and (not wanted or device.platform == wanted):
                found[m.pk].append(device)
    user_targets = [m for m in messages if m.target_type == TargetType.USER]
    if user_targets:
        bindings = UserBinding.objects.filter(
            app=app, user_id__any=Many([m.target_id for m in user_targets])
        ).select_related("device")
        by_user: dict[str, list[Device]] = defaultdict(list)
        for b in bindings:
            by_user[b.user_id].append(b.device)
        for m in user_targets:
            found[m.pk] = [d for d in by_user.get(m.target_id, []) if not m.platform or d.platform == m.platform]
    for m in messages:
        if m.target_type in DEVICE_TARGETS or m.target_type == TargetType.USER:
            continue
        found[m.pk] = list(
            devices_for(app=app, target_type=m.target_type, target_ids=[m.target_id], platform=m.platform)
        )
    return found


def chunk_deliver(
    *,
    task_id: int,
    message_ids: list[int] | None = None,
    message_id: int | None = None,
    device_ids: list[int] | None = None,
    device_range: list[int] | None = None,
    resolved_at: str | None = None,
    delivery_ids: list[int] | None = None,
    final_attempt: bool = False,
    now: datetime | None = None,
) -> ChunkRetry:
    """Create this chunk's deliveries (idempotently) and send the queued ones this run claims.

    A chunk is a list of messages, a fan-out message and a keyset range of device ids
    (`device_range`, resolved as at `resolved_at`), or deliveries to retry. Raises limits.SlotsBusy."""
    now = now or timezone.now()
    task = PushTask.objects.select_related("app").get(pk=task_id)
    app = task.app
    if task.status in STOPPED:
        _cancel(task, message_ids=message_ids, message_id=message_id, device_ids=device_ids, delivery_ids=delivery_ids)
        return ChunkRetry()
    plan = ChannelPlan(app)
    # The app's slot before any row is built: a chunk that has to wait costs nothing but a requeue.
    with app_slot(app.pk):
        if delivery_ids is None:
            if device_range is not None and message_id is not None:
                device_ids = _range_devices(task, message_id, device_range, resolved_at)
            ranged = device_range is not None and message_id is not None
            with transaction.atomic() if ranged else nullcontext():
                deliveries = _create_deliveries(
                    app, task, plan, message_ids=message_ids, message_id=message_id, device_ids=device_ids, now=now
                )
                if ranged:
                    # Same transaction as the range's deliveries: done means they all exist.
                    FanoutRange.objects.filter(message_id=message_id, first_device=device_range[0], done=False).update(
                        done=True
                    )
        else:
            deliveries = _open_deliveries(
                Delivery.objects.filter(pk__any=Many(delivery_ids), state=MessageState.QUEUED), messages={}, devices={}
            )
        retry = _send(app, plan, deliveries, final_attempt=final_attempt, now=now)
    if device_range is not None and message_id is not None and delivery_ids is None:
        # A range whose devices were all gone (or already final) sends nothing that would close
        # the message: decide here, under the message's lock, whether it was the last range.
        with transaction.atomic():
            status.messages_refresh([message_id], now=now)
    status.task_maybe_finish(task_id)
    return retry


def _range_devices(task: PushTask, message_id: int, device_range: list[int], resolved_at: str | None) -> list[int]:
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return []
    at = datetime.fromisoformat(resolved_at) if resolved_at else None
    first, last = device_range
    qs = fanout_devices(task, message, now=at).filter(pk__gte=first, pk__lte=last)
    return list(qs.order_by("pk").values_list("pk", flat=True))


STOP_BATCH = 10_000


def task_stop_deliveries(*, task_id: int, batch: int = STOP_BATCH) -> int:
    """After a task is stopped, cancelled or rejected: every open message of it ends CANCELLED
    (final), in committed batches so a send of millions never holds one huge transaction."""
    task = PushTask.objects.get(pk=task_id)
    if task.status not in STOPPED and task.status != TaskStatus.REJECTED:
        return 0
    open_states = [MessageState.PENDING, MessageState.QUEUED, MessageState.SENDING, MessageState.WAITING]
    open_messages = Message.objects.filter(task_id=task_id, state__in=open_states)
    before = open_messages.count()
    while True:
        if status.messages_cancel_undelivered(task_id, reason=_stop_reason(task), limit=batch) < batch:
            break
    # Deliveries not sent yet: through the one status path, a committed batch at a time.
    reason = _stop_reason(task)
    open_deliveries = Delivery.objects.filter(
        message__task_id=task_id, state__in=[MessageState.QUEUED, MessageState.SENDING, MessageState.WAITING]
    )
    while True:
        ids = list(open_deliveries.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            break
        outcomes = [status.Outcome(pk, MessageState.CANCELLED, PushStatus.CANCELLED, reason=reason) for pk in ids]
        if not status.deliveries_record(outcomes):
            break
    # Messages still open (a fan-out whose later chunks never built their deliveries) end here.
    while True:
        ids = list(open_messages.order_by("pk").values_list("pk", flat=True)[:batch])
        if not status.messages_close(ids, state=MessageState.CANCELLED, status=PushStatus.CANCELLED, reason=reason):
            break
    return before - open_messages.count()


def _stop_reason(task: PushTask) -> str:
    return f"task {task.get_status_display().lower()}"


def message_revoke(*, message_id: int) -> bool:
    """One open message (and its open deliveries) ends CANCELLED, revoked by its sender.

    False when it is already final: a message a gateway accepted cannot be called back."""
    message = Message.objects.select_related("task").filter(pk=message_id).first()
    if message is None or message.state in FINAL_STATES:
        return False
    _cancel(
        message.task, message_ids=[message.pk], message_id=None, device_ids=None, delivery_ids=None, reason="revoked"
    )
    message.refresh_from_db(fields=["state"])
    return message.state == MessageState.CANCELLED


def _cancel(task, *, message_ids, message_id, device_ids, delivery_ids, reason: str = "") -> None:
    reason = reason or _stop_reason(task)
    open_states = [MessageState.PENDING, MessageState.QUEUED, MessageState.SENDING, MessageState.WAITING]
    ids = list(message_ids or []) + ([message_id] if message_id else [])
    if delivery_ids:
        ids += list(Delivery.objects.filter(pk__any=Many(delivery_ids)).values_list("message_id", flat=True))
    outcomes = [
        status.Outcome(d, MessageState.CANCELLED, PushStatus.CANCELLED, reason=reason)
        for d in Delivery.objects.filter(message_id__any=Many(ids), state__in=open_states).values_list("pk", flat=True)
    ]
    status.deliveries_record(outcomes)
    no_delivery = Message.objects.filter(pk__any=Many(ids), state__in=open_states, deliveries__isnull=True)
    status.messages_close(
        list(no_delivery.values_list("pk", flat=True)),
        state=MessageState.CANCELLED,
        status=PushStatus.CANCELLED,
        reason=reason,
    )


def _create_deliveries(app, task, plan: ChannelPlan, *, message_ids, message_id, device_ids, now) -> list[OpenDelivery]:
    """The deliveries this chunk may send, in (message, device) order.

    A fan-out range creates all of its rows here (queued, in the caller's transaction that marks
    the range done). A chunk of messages creates none: its sendable deliveries are inserted,
    already claimed, batch by batch just before their send (OpenDelivery.pk is None until then),
    so none of them is written twice before the gateway has answered."""
    open_states = [MessageState.PENDING, MessageState.QUEUED, MessageState.SENDING, MessageState.WAITING]
    if message_id is not None:
        message = Message.objects.filter(pk=message_id).first()
        if message is None or message.state not in open_states:
            return []
        messages = [message]
        devices = {message.pk: list(Device.objects.filter(pk__any=Many(device_ids or [])).only(*SEND_DEVICE_FIELDS))}
    else:
        messages = list(
            Message.objects.filter(pk__any=Many(message_ids or []), state__in=open_states)
            .only(*SEND_MESSAGE_FIELDS)
            .order_by("pk")
        )
        expired = [m.pk for m in messages if m.is_expired(now)]
        if expired:
            status.messages_close(
                expired,
                state=MessageState.EXPIRED,
                status=PushStatus.DEVICE_NOT_ONLINE,
                reason="expired before sending",
            )
            messages = [m for m in messages if not m.is_expired(now)]
        devices = _devices_by_message(app, messages)
        unbound = [m.pk for m in messages if not devices.get(m.pk) and m.target_type == TargetType.USER]
        unknown = [m.pk for m in messages if not devices.get(m.pk) and m.target_type != TargetType.USER]
        status.messages_wait_for_binding(unbound, now=now)
        status.messages_close(unknown, state=MessageState.FAILED, status=PushStatus.NONE, reason="device unknown")
    candidates = []
    for m in messages:
        silent = (m.payload or {}).get("display_type") == "silent"
        android_channel = (m.payload or {}).get("android_channel", "default")
        for device in devices.get(m.pk, []):
            route = plan.route(device, silent=silent, android_channel=android_channel)
            candidates.append(
                OpenDelivery(None, str(route.channel), uuid.uuid4(), PushStatus.DEVICE_NOT_ONLINE, m, device)
            )
    if message_id is None:
        # Rows an earlier run of these messages left queued (handed back when a channel was busy,
        # re-opened after a worker died mid-send, a device since unbound) go as they are.
        return _with_queued(candidates, message_ids=[m.pk for m in messages])
    _deliveries_insert(candidates, state=MessageState.QUEUED, now=now)
    status.messages_mark_sending([m.pk for m in messages if devices.get(m.pk)], now=now)
    qs = Delivery.objects.filter(
        state=MessageState.QUEUED, message_id=message_id, device_id__any=Many(device_ids or [])
    )
    return _open_deliveries(
        qs, messages={m.pk: m for m in messages}, devices={d.pk: d for ds in devices.values() for d in ds}
    )


def _with_queued(candidates: list[OpenDelivery], *, message_ids: list[int]) -> list[OpenDelivery]:
    """The candidates, with the queued rows these messages already have: a candidate whose row
    exists takes its id and push id, a queued row no candidate names is added as it is."""
    if not message_ids:
        return candidates
    queued = _open_deliveries(
        Delivery.objects.filter(message_id__any=Many(message_ids), state=MessageState.QUEUED),
        messages={c.message.pk: c.message for c in candidates},
        devices={c.device.pk: c.device for c in candidates},
    )
    if not queued:
        return candidates
    by_pair = {(d.message.pk, d.device.pk): d for d in queued}
    merged = [by_pair.pop((c.message.pk, c.device.pk), c) for c in candidates]
    return merged + list(by_pair.values())


@dataclass(slots=True)
class OpenDelivery:
    """A delivery about to be sent: the few columns the send reads, with its message and device."""

    pk: int | None  # None: not created yet (a chunk of messages creates it with its batch's claim)
    channel: str
    push_id: uuid.UUID
    status: int
    message: Message
    device: Device
    attempts: int = 0

    @property
    def device_id(self) -> int:
        return self.device.pk


def _open_deliveries(qs, *, messages: dict[int, Message], devices: dict[int, Device]) -> list[OpenDelivery]:
    """The open deliveries of `qs` in id order, reusing the messages and devices already loaded
    (a chunk's reload with select_related parsed every timestamp of three tables again)."""
    rows = list(qs.order_by("pk").values_list("pk", "message_id", "device_id", "channel", "push_id", "status"))
    missing_messages = {r[1] for r in rows} - messages.keys()
    if missing_messages:
        messages = {**messages, **Message.objects.only(*SEND_MESSAGE_FIELDS).in_bulk(list(missing_messages))}
    missing_devices = {r[2] for r in rows} - devices.keys()
    if missing_devices:
        devices = {**devices, **Device.objects.only(*SEND_DEVICE_FIELDS).in_bulk(list(missing_devices))}
    return [
        OpenDelivery(pk, channel, push_id, status_, messages[message_pk], devices[device_pk])
        for pk, message_pk, device_pk, channel, push_id, status_ in rows
    ]


def _deliveries_insert(deliveries: list[OpenDelivery], *, state: str, now: datetime) -> list[OpenDelivery]:
    """Create the rows of the deliveries that have none yet, in `state` (sending: claimed by this
    run, first attempt). A row that already exists is kept as it is and its delivery keeps
    pk None. Returns those created, with their ids set. One INSERT from arrays instead of a model
    instance and 10 placeholders per row."""
    new = [d for d in deliveries if d.pk is None]
    if not new:
        return []
    claimed = state == MessageState.SENDING
    if connection.vendor != "postgresql":
        with transaction.atomic():
            created = []
            for d in new:
                row, fresh = Delivery.objects.get_or_create(
                    message_id=d.message.pk,
                    device_id=d.device.pk,
                    defaults=dict(
                        channel=d.channel,
                        state=state,
                        push_id=d.push_id,
                        attempts=int(claimed),
                        created_at=now,
                        updated_at=now,
                    ),
                )
                if fresh:
                    d.pk, d.attempts = row.pk, row.attempts
                    created.append(d)
            return created
    sql = (
        f'INSERT INTO "{Delivery._meta.db_table}" (message_id, device_id, channel, state, status, gateway_reason, '
        "push_id, attempts, created_at, updated_at) "
        "SELECT v.m, v.d, v.c, %s, %s, '', v.p, %s, %s, %s "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::varchar[], %s::uuid[]) AS v(m, d, c, p) "
        "ON CONFLICT (message_id, device_id) DO NOTHING RETURNING id, message_id, device_id"
    )
    params = [
        str(state),
        int(PushStatus.DEVICE_NOT_ONLINE),
        int(claimed),
        now,
        now,
        pg_array([d.message.pk for d in new]),
        pg_array([d.device.pk for d in new]),
        pg_array([d.channel for d in new]),
        pg_array([d.push_id for d in new]),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = {(m, dev): pk for pk, m, dev in cursor.fetchall()}
    created = []
    for d in new:
        pk = ids.get((d.message.pk, d.device.pk))
        if pk is not None:
            d.pk, d.attempts = pk, int(claimed)
            created.append(d)
    return created


def _existing(deliveries: list[OpenDelivery]) -> list[OpenDelivery]:
    """Deliveries whose insert met a row another run had created: each takes that row's id, push
    id and status; those whose row is gone are left out."""
    pairs = {(d.message.pk, d.device.pk): d for d in deliveries if d.pk is None}
    if not pairs:
        return [d for d in deliveries if d.pk is not None]
    rows = Delivery.objects.filter(
        message_id__any=Many(sorted({m for m, _ in pairs})), device_id__any=Many(sorted({dev for _, dev in pairs}))
    ).values_list("pk", "message_id", "device_id", "push_id", "status")
    for pk, m, dev, push_id, status_ in rows:
        d = pairs.get((m, dev))
        if d is not None:
            d.pk, d.push_id, d.status = pk, push_id, status_
    return [d for d in deliveries if d.pk is not None]


def _materialize(deliveries: list[OpenDelivery], now: datetime) -> list[OpenDelivery]:
    """Every delivery with a row (queued where this run creates it): for the paths that record a
    result without a send, or hand the rest of a chunk to a later run."""
    _deliveries_insert(deliveries, state=MessageState.QUEUED, now=now)
    return _existing(deliveries)


def _claim(batch: list[OpenDelivery]) -> list[OpenDelivery]:
    """The deliveries of `batch` this run may send: rows it creates now (the INSERT is the claim)
    and existing rows it moves from queued to sending, with their attempt counts."""
    now = timezone.now()
    claimed = {id(d) for d in _deliveries_insert(batch, state=MessageState.SENDING, now=now)}
    others = _existing([d for d in batch if id(d) not in claimed])
    if others:
        attempts = status.deliveries_claim([d.pk for d in others], now=now)
        for d in others:
            if d.pk in attempts:
                d.attempts = attempts[d.pk]
                claimed.add(id(d))
    return [d for d in batch if id(d) in claimed]


def token_for(device: Device, channel: str) -> str:
    if channel == Channel.APNS:
        return device.apns_token or device.device_id
    if channel == Channel.FCM:
        return device.fcm_token
    if channel == Channel.SANDBOX:
        return device.apns_token or device.vendor_token or device.device_id
    if channel == Channel.SELF_BUILT:
        return device.device_id
    return device.vendor_token


def outgoing_push(delivery: OpenDelivery, app) -> OutgoingPush:
    message, device = delivery.message, delivery.device
    p = message.payload or {}
    return OutgoingPush(
        delivery_id=delivery.pk,
        push_id=str(delivery.push_id),
        token=token_for(device, delivery.channel),
        platform=device.platform,
        title=message.title,
        body=message.body,
        expires_at=message.expires_at,
        silent=p.get("display_type") == "silent",
        display_style=p.get("display_style") or "default",
        click_action=p.get("click_action") or "open_app",
        url=p.get("url") or "",
        activity=p.get("activity") or "",
        icon_url=p.get("icon_url") or "",
        image_url=p.get("image_url") or "",
        package_name=device.package_name or app.android_package,
        # APNs: the active credential's topic (a certificate's override, the .p8 key's topic).
        topic="" if delivery.channel == Channel.APNS else app.ios_bundle_id,
        apns_environment=device.apns_environment,
        extras={str(k): str(v) for k, v in (p.get("extras") or {}).items()},
    )


def _send(app, plan: ChannelPlan, deliveries: list[OpenDelivery], *, final_attempt: bool, now) -> ChunkRetry:
    retry = ChunkRetry()
    skipped: list[tuple[OpenDelivery, str, int, int | None, str]] = []
    waiting: list[OpenDelivery] = []
    groups: dict[tuple[str, str], list[OpenDelivery]] = defaultdict(list)
    block_reason = None
    for d in deliveries:
        device = d.device
        if d.message.is_expired(now):
            skipped.append((d, MessageState.EXPIRED, d.status, None, "expired before sending"))
        elif d.channel == Channel.SELF_BUILT:
            waiting.append(d)
        elif device.token_dead_at is not None:
            # Counted, never silently dropped: the timeline says why.
            reason = f"{status.DEAD_TOKEN_REASON}: {device.token_dead_reason}"
            skipped.append((d, MessageState.FAILED, PushStatus.TOKEN_DEAD, None, reason))
        elif d.channel == Channel.APNS and (
            block_reason if block_reason is not None else (block_reason := ios_send_block_reason(app, now=now))
        ):
            code = APNS_REASON_CODES["BadCertificate"]
            skipped.append((d, MessageState.FAILED, code, code, f"BadCertificate: {block_reason}"))
        else:
            groups[(d.channel, device.package_name or app.android_package)].append(d)
    if skipped or waiting:
        # Recorded without a send: their rows are created queued first (the status path needs them).
        _materialize([d for d, *_ in skipped] + waiting, now)
        outcomes = [status.Outcome(d.pk, state, code, gw, reason) for d, state, code, gw, reason in skipped if d.pk]
        status.deliveries_record(outcomes, now=now)
        status.deliveries_wait([d.pk for d in waiting if d.pk], now=now)
    pending = list(groups.items())
    for i, ((channel, package), group) in enumerate(pending):
        try:
            gateway = get_gateway(app, channel, package)
        except Exception as exc:  # no credential, unreadable or expired one: fail clearly, keep the worker
            code = getattr(exc, "code", None)
            reason = f"{channel} unavailable: {getattr(exc, 'reason', '') or exc}"[:200]
            logger.warning("app %s: %s", app.app_key, reason)
            status.deliveries_record(
                [
                    status.Outcome(d.pk, MessageState.FAILED, code or PushStatus.NONE, code, reason)
                    for d in _materialize(group, now)
                ]
            )
            continue
        # The factory owns the gateway and keeps its connections open for the next chunk.
        try:
            with channel_slot(app.pk, channel):
                _send_group(gateway, app, group, retry, final_attempt=final_attempt)
        except SlotsBusy as busy:
            # The rows exist: the retry sends these deliveries, it does not build the chunk again.
            rest = _materialize([d for _, group_ in pending[i:] for d in group_], now)
            unsent = [d.pk for d in rest] + retry.delivery_ids
            raise SlotsBusy(busy.key, delivery_ids=unsent) from None
    return retry


def engine_batch_size(gateway: Gateway) -> int:
    """Pushes per send_batch call: PUSHDECK_GATEWAY_BATCH, made a whole number of the vendor's requests
    for gateways that send many tokens per request (Meizu: 100 push ids), so 250 devices are 3 requests
    whatever the setting."""
    size = max(1, settings.PUSHDECK_GATEWAY_BATCH)
    limit = int(getattr(gateway, "batch_limit", 0) or 0)
    if limit > 1:
        size = max(limit, size - size % limit)
    return size


def _send_group(gateway: Gateway, app, group: list[OpenDelivery], retry: ChunkRetry, *, final_attempt: bool) -> None:
    size = engine_batch_size(gateway)
    for start in range(0, len(group), size):
        # Claim before send: another run of the same deliveries (a redelivered chunk, a second
        # bind of the same user) gets none of them, and this run sends only what it claimed.
        batch = group[start : start + size]
        if start and _stopped_meanwhile(batch[0].message.task_id, group[start:]):
            return
        batch = _claim(batch)
        if not batch:
            continue
        pushes = [outgoing_push(d, app) for d in batch]
        try:
            results = gateway.send_batch(pushes)
        except GatewayError as exc:
            results = [GatewayResult.from_error(exc)] * len(batch)
        except Exception as exc:  # a crashing gateway must not lose the chunk: retry it
            logger.exception("gateway %s failed", gateway.code)
            results = [GatewayResult(accepted=False, reason=f"gateway error: {type(exc).__name__}", permanent=False)]
            results *= len(batch)
        _credential_health(gateway, app, results)
        _record_results(batch, results, retry, final_attempt=final_attempt)


def _credential_health(gateway: Gateway, app, results: list[GatewayResult]) -> None:
    """A refusal of the credential is written on it (the push-configuration page and the overview show it
    red with the vendor's words); an accepted send clears it."""
    credential = getattr(gateway, "credential", None)
    if credential is None or not results:
        return
    refused = next((r for r in results if r.config_error), None)
    if refused is not None:
        said = refused.reason or (f"HTTP {refused.http_status}" if refused.http_status else "")
        if refused.code is not None and str(refused.code) not in said:
            said = f"{refused.code} {said}".strip()
        logger.warning("app %s: %s credential refused: %s", app.app_key, gateway.code, said)
        credential_refused(credential, said)
        gateway.credential_checked_at = None
    elif any(r.accepted for r in results):
        # at most once a minute per gateway (another worker may have written a refusal meanwhile):
        # no UPDATE per batch on the hot path
        checked = getattr(gateway, "credential_checked_at", None)
        if checked is None or time.monotonic() - checked >= CREDENTIAL_RECHECK_SECONDS:
            credential_worked(credential)
            gateway.credential_checked_at = time.monotonic()


def _stopped_meanwhile(task_id: int, rest: list[OpenDelivery]) -> bool:
    """A stop between two gateway batches of a chunk: the rest is cancelled, not sent."""
    if not PushTask.objects.filter(pk=task_id, status__in=STOPPED).exists():
        return False
    task = PushTask.objects.get(pk=task_id)
    # Rows not created yet: their messages are cancelled whole (no row of theirs is sent any more).
    message_ids = sorted({d.message.pk for d in rest if d.pk is None})
    _cancel(task, message_ids=message_ids, message_id=None, device_ids=None, delivery_ids=[d.pk for d in rest if d.pk])
    return True


def _record_results(
    batch: list[OpenDelivery], results: list[GatewayResult], retry: ChunkRetry, *, final_attempt
) -> None:
    final: list[status.Outcome] = []
    again: list[status.Outcome] = []
    next_at: dict[int, datetime] = {}
    dead: dict[str, list[int]] = defaultdict(list)
    last_try = settings.PUSHDECK_MAX_RETRIES + 1
    park_after = settings.PUSHDECK_PARK_AFTER_SECONDS
    now = timezone.now()
    for d, r in zip(batch, results, strict=True):
        reason = r.reason or (f"HTTP {r.http_status}" if r.http_status else "")
        mid = r.gateway_message_id
        if r.accepted:
            final.append(status.Outcome(d.pk, MessageState.ACCEPTED, PushStatus.ACKED, r.code, reason, mid))
            continue
        expires_at = d.message.expires_at
        transient = not r.permanent and (not final_attempt and d.attempts < last_try or r.retry_after)
        wait = retry_wait(d.attempts, r.retry_after) if transient else 0.0
        if transient and now + timedelta(seconds=wait) >= expires_at:
            # The next try (a vendor's daily quota until tomorrow, a long Retry-After or backoff) would
            # come after the message's validity: never parked past it; it ends expired, saying why.
            code = r.code if r.code is not None else PushStatus.RETRIES_EXHAUSTED
            retry_at = timezone.localtime(now + timedelta(seconds=wait))
            why = (
                f"{reason or code}; next try allowed at {retry_at:%Y-%m-%d %H:%M %Z}, "
                f"after the message expires at {timezone.localtime(expires_at):%Y-%m-%d %H:%M %Z}"
            )
            final.append(status.Outcome(d.pk, MessageState.EXPIRED, code, r.code, why, mid))
            continue
        if not r.permanent and not final_attempt and d.attempts < last_try:
            next_at[d.pk] = now + timedelta(seconds=wait)
            again.append(status.Outcome(d.pk, MessageState.QUEUED, d.status, r.code, reason, mid))
            if wait <= park_after:
                retry.delivery_ids.append(d.pk)
                retry.retry_after = max(retry.retry_after, wait)
            continue
        if r.code is not None:
            code = r.code
        elif r.permanent:
            code = PushStatus.GATEWAY_REFUSED
        else:
            code = PushStatus.RETRIES_EXHAUSTED
        final.append(status.Outcome(d.pk, MessageState.FAILED, code, r.code, reason, mid))
        if r.token_dead:
            dead[f"{r.code or ''} {r.reason}".strip()].append(d.device_id)
    status.deliveries_record(final)
    status.deliveries_retrying(again, next_at=next_at, park_after=park_after)
    for reason, device_ids in dead.items():
        status.devices_mark_dead(device_ids, reason=reason)
