"""The one place statuses change.

Delivery and Message state, the StatusEvent timeline, PushTask counters (F()),
usage rollups, receipt events and the callback enqueue all move together here.
A final state never changes again: every update filters on the non-final states,
so a late ack, a duplicate result after a crash or a second expiry sweep is a no-op.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from campaigns.codes import PushStatus, status_text
from campaigns.lookups import Many
from campaigns.models import (
    DEVICE_TARGETS,
    FINAL_STATES,
    Channel,
    Delivery,
    FanoutRange,
    Message,
    MessageState,
    Platform,
    PushTask,
    ReceiptEvent,
    ReceiptEventType,
    StatusEvent,
    TaskStatus,
)
from campaigns.rollups import rollup_add
from campaigns.taskcounts import task_channel_add
from console import metrics
from console.rowsql import pg_array

from .wakeup import publish_after_commit

logger = logging.getLogger(__name__)

OPEN_STATES = [s for s in MessageState if s not in FINAL_STATES]
# Delivery.gateway_reason marker for sends skipped because the device token is dead.
DEAD_TOKEN_REASON = "token dead"


def _plain(value):
    return value.value if isinstance(value, enum.Enum) else value


def _bulk_set(model, objs: list, fields: list[str]) -> None:
    """bulk_update as one UPDATE ... FROM unnest(arrays): no CASE WHEN, and a handful of array
    parameters instead of thousands of placeholders to build and parse."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields)
        return
    meta = model._meta
    columns = [meta.get_field(f) for f in fields]
    pk = meta.pk
    names = [pk.column] + [c.column for c in columns]
    casts = [pk.db_type(connection)] + [c.db_type(connection) for c in columns]
    arrays = [[obj.pk for obj in objs]]
    arrays += [[_plain(c.get_db_prep_save(getattr(obj, c.attname), connection)) for obj in objs] for c in columns]
    arrays = [pg_array(a) for a in arrays]
    unnest = ", ".join(f"%s::{t}[]" for t in casts)
    sets = ", ".join(f'"{n}" = v."{n}"' for n in names[1:])
    alias = ", ".join(f'"{n}"' for n in names)
    sql = (
        f'UPDATE "{meta.db_table}" AS t SET {sets} FROM unnest({unnest}) AS v({alias}) '
        f'WHERE t."{pk.column}" = v."{pk.column}"'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def copy_insert(model, fields: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert many rows with COPY: no model instance per row and no huge parameter list to
    build and parse (bulk_create of the timeline cost more CPU than the HTTP/2 send)."""
    rows = [tuple(v.value if isinstance(v, enum.Enum) else v for v in row) for row in rows]
    if not rows:
        return
    meta = model._meta
    if connection.vendor != "postgresql":
        names = [meta.get_field(f).attname for f in fields]  # message -> message_id: the rows hold ids
        model.objects.bulk_create(model(**dict(zip(names, row, strict=True))) for row in rows)
        return
    if any(isinstance(v, dict | list) for v in rows[0]):  # JSON columns
        rows = [tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in row) for row in rows]
    columns = ", ".join(f'"{meta.get_field(f).column}"' for f in fields)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f'COPY "{meta.db_table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)


_EVENT_FIELDS = ("message", "delivery", "at", "state", "status", "description", "channel")
_RECEIPT_FIELDS = ("app", "message", "device", "event", "channel", "at")


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery: its new state, SPEC status and the gateway's code/text."""

    delivery_id: int
    state: str
    status: int
    gateway_code: int | None = None
    reason: str = ""
    message_id: str = ""  # the vendor's message id, when it gave one


def _desc(status: int, code: int | None, reason: str) -> str:
    if code is not None:
        text = f"{code} {reason or status_text(code)}"
    else:
        text = reason or status_text(status)
    return text[:300]


def _counts_as_arrived(channel: str, platform: str) -> bool:
    # SPEC: APNs gives no `arrive`; an accepted iOS message counts as arrived.
    return channel == Channel.APNS or (channel == Channel.SANDBOX and platform == Platform.IOS)


_RECORD_FIELDS = (
    "pk",
    "message_id",
    "device_id",
    "channel",
    "accepted_at",
    "arrived_at",
    "message__app_id",
    "message__task_id",
    "message__push_type",
    "message__target_id",
    "message__target_type",
    "device__platform",
    "device__app_version",
)


@dataclass(slots=True)
class _Recorded:
    """One delivery being recorded: the columns we read, then its new values (no model instance)."""

    pk: int
    message_id: int
    device_id: int
    channel: str
    accepted_at: datetime | None
    arrived_at: datetime | None
    app_id: int
    task_id: int
    push_type: str
    target_id: str
    target_type: str
    platform: str
    app_version: str
    state: str = ""
    status: int = 0
    gateway_code: int | None = None
    gateway_reason: str = ""
    gateway_message_id: str = ""


def _set_recorded(rows: list[_Recorded], now: datetime) -> None:
    """One UPDATE from arrays for the recorded deliveries (elsewhere than PostgreSQL: bulk_update)."""
    if connection.vendor != "postgresql":
        fields = [
            "state",
            "status",
            "gateway_code",
            "gateway_reason",
            "gateway_message_id",
            "accepted_at",
            "arrived_at",
        ]
        objs = [Delivery(pk=r.pk, updated_at=now, **{f: getattr(r, f) for f in fields}) for r in rows]
        Delivery.objects.bulk_update(objs, [*fields, "updated_at"])
        return
    table = Delivery._meta.db_table
    sql = (
        f'UPDATE "{table}" AS t SET state = v.state, status = v.status, gateway_code = v.code, '
        "gateway_reason = v.reason, gateway_message_id = COALESCE(NULLIF(v.mid, ''), t.gateway_message_id), "
        "updated_at = %s, accepted_at = v.accepted, arrived_at = v.arrived "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::integer[], %s::integer[], %s::varchar[], %s::varchar[], "
        "%s::timestamptz[], %s::timestamptz[]) AS v(id, state, status, code, reason, mid, accepted, arrived) "
        "WHERE t.id = v.id"
    )
    params = [
        now,
        *map(
            pg_array,
            (
                [r.pk for r in rows],
                [str(r.state) for r in rows],
                [int(r.status) for r in rows],
                [r.gateway_code for r in rows],
                [r.gateway_reason for r in rows],
                [r.gateway_message_id for r in rows],
                [r.accepted_at for r in rows],
                [r.arrived_at for r in rows],
            ),
        ),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def deliveries_record(outcomes: Sequence[Outcome], *, now: datetime | None = None) -> int:
    """Apply gateway/engine outcomes to deliveries in one transaction; returns how many changed."""
    if not outcomes:
        return 0
    now = now or timezone.now()
    by_id = {o.delivery_id: o for o in outcomes}
    with transaction.atomic():
        rows = [
            _Recorded(*values)
            for values in Delivery.objects.select_for_update(of=("self",))
            .filter(pk__any=Many(by_id), state__in=OPEN_STATES)
            .order_by("pk")
            .values_list(*_RECORD_FIELDS)
        ]
        if not rows:
            return 0
        events: list[tuple] = []
        receipts: list[tuple] = []
        task_counts: dict[int, Counter] = defaultdict(Counter)
        channel_counts: dict[tuple[int, str], Counter] = defaultdict(Counter)
        rollups: Counter = Counter()
        callbacks: list[int] = []
        outcomes_seen: Counter = Counter()
        for delivery in rows:
            outcome = by_id[delivery.pk]
            if outcome.state in (MessageState.ACCEPTED, MessageState.FAILED):
                kind = "accepted" if outcome.state == MessageState.ACCEPTED else "error"
                outcomes_seen[(delivery.channel, kind, outcome.gateway_code or "")] += 1
            delivery.state = outcome.state
            delivery.status = outcome.status
            delivery.gateway_code = outcome.gateway_code
            delivery.gateway_reason = outcome.reason[:200]
            delivery.gateway_message_id = outcome.message_id[:100]
            counts = task_counts[delivery.task_id]
            dims = (delivery.app_id, delivery.push_type, delivery.channel, delivery.platform, delivery.app_version)
            if outcome.state == MessageState.ACCEPTED:
                delivery.accepted_at = now
                counts["succeeded"] += 1
                counts["pushed"] += 1
                per_channel = channel_counts[(delivery.task_id, delivery.channel)]
                per_channel["sent"] += 1
                rollups[(*dims, "pushed")] += 1
                receipts.append(_receipt(delivery, ReceiptEventType.SENT, now))
                self_built = delivery.channel == Channel.SELF_BUILT
                if _counts_as_arrived(delivery.channel, delivery.platform) or self_built:
                    delivery.arrived_at = now
                    counts["arrived"] += 1
                    per_channel["arrived"] += 1
                    rollups[(*dims, "arrived")] += 1
                    if self_built:
                        receipts.append(_receipt(delivery, ReceiptEventType.ARRIVE, now))
                callbacks.append(delivery.pk)
            elif outcome.state == MessageState.FAILED:
                counts["failed"] += 1
                if not outcome.reason.startswith(DEAD_TOKEN_REASON):
                    receipts.append(_receipt(delivery, ReceiptEventType.SENT_FAIL, now))
            events.append(
                (
                    delivery.message_id,
                    delivery.pk,
                    now,
                    outcome.state,
                    outcome.status,
                    _desc(outcome.status, outcome.gateway_code, outcome.reason),
                    delivery.channel,
                )
            )
        _set_recorded(rows, now)
        direct = [d for d in rows if d.target_type in DEVICE_TARGETS and d.target_id]
        if connection.vendor == "postgresql" and direct:
            events += _messages_finish_direct(direct, now)
            done = {d.message_id for d in direct}
        else:
            done = set()
        copy_insert(StatusEvent, _EVENT_FIELDS, events)
        copy_insert(ReceiptEvent, _RECEIPT_FIELDS, receipts)
        messages_refresh({d.message_id for d in rows} - done, now=now)
        if callbacks:
            _enqueue_callbacks(rows[0].app_id, callbacks)
        # Last, just before commit: every worker of a task adds to the same task and rollup
        # rows, so their row locks are held for as short a time as possible.
        by_dims: dict[tuple, dict[str, int]] = defaultdict(dict)
        for (*dims, figure), n in rollups.items():
            by_dims[tuple(dims)][figure] = n
        for (app_id, push_type, channel, platform, version), figures in sorted(by_dims.items()):
            rollup_add(
                app_id=app_id,
                at=now,
                platform=platform,
                app_version=version,
                channel=channel,
                push_type=push_type,
                **figures,
            )
        task_channel_add(channel_counts)
        for task_id, counts in sorted(task_counts.items()):
            PushTask.objects.filter(pk=task_id).update(**{k: F(k) + v for k, v in counts.items()})
        transaction.on_commit(lambda: metrics.record_deliveries(outcomes_seen))
    return len(rows)


def _messages_finish_direct(rows: list[_Recorded], now: datetime) -> list[tuple]:
    """A device-target message has exactly one delivery: its final state is that delivery's.

    One UPDATE ... FROM unnest(arrays) guarded by the open states, so a final message never changes.
    Returns the timeline rows (_EVENT_FIELDS order) of the messages it changed, for the caller's COPY.
    """
    table = Message._meta.db_table
    ids, states, statuses, descs, channels = [], [], [], [], []
    for d in rows:
        ids.append(d.message_id)
        states.append(str(d.state))
        statuses.append(int(d.status))
        descs.append(_desc(d.status, d.gateway_code, d.gateway_reason))
        channels.append(str(d.channel))
    sql = (
        f'UPDATE "{table}" AS t SET state = v.state, status = v.status, status_desc = v.descr, '
        "status_changed_at = %s, channel = v.channel "
        "FROM unnest(%s::bigint[], %s::varchar[], %s::integer[], %s::varchar[], %s::varchar[]) "
        "AS v(id, state, status, descr, channel) WHERE t.id = v.id AND t.state = ANY(%s::varchar[]) RETURNING t.id"
    )
    with connection.cursor() as cursor:
        arrays = (ids, states, statuses, descs, channels, [str(s.value) for s in OPEN_STATES])
        cursor.execute(sql, [now, *map(pg_array, arrays)])
        changed = {row[0] for row in cursor.fetchall()}
    return [
        (d.message_id, None, now, d.state, d.status, desc, d.channel)
        for d, desc in zip(rows, descs, strict=True)
        if d.message_id in changed
    ]


def _receipt(delivery: _Recorded, event: str, now: datetime) -> tuple:
    """A ReceiptEvent row (_RECEIPT_FIELDS order)."""
    return (delivery.app_id, delivery.message_id, delivery.device_id, event, delivery.channel, now)


def _enqueue_callbacks(app_id: int, delivery_ids: list[int]) -> None:
    from console.models import KeyConfig

    if not KeyConfig.objects.filter(app_id=app_id, callback_enabled=True).exclude(callback_url="").exists():
        return
    from .tasks import send_receipts

    size = settings.PUSHDECK_CALLBACK_BATCH
    batches = [delivery_ids[i : i + size] for i in range(0, len(delivery_ids), size)]
    transaction.on_commit(lambda: [send_receipts.delay(app_id, batch) for batch in batches])


def deliveries_claim(delivery_ids: Sequence[int], *, now: datetime | None = None) -> dict[int, int]:
    """Claim queued deliveries before a gateway call: {id: attempts} of those this run may send.

    Only the run whose conditional UPDATE moves a delivery from queued to sending gets it back,
    so two runs of one chunk (a redelivered task, two binds at once) never both send it. A
    parked delivery (next attempt later) is not claimed before its time."""
    ids = list(delivery_ids)
    if not ids:
        return {}
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        claimed = {}
        with transaction.atomic():
            for pk in ids:
                due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
                if (
                    Delivery.objects.filter(due, pk=pk, state=MessageState.QUEUED).update(
                        state=MessageState.SENDING, attempts=F("attempts") + 1, updated_at=now, next_attempt_at=None
                    )
                    == 1
                ):
                    claimed[pk] = Delivery.objects.values_list("attempts", flat=True).get(pk=pk)
        return claimed
    sql = (
        f'UPDATE "{Delivery._meta.db_table}" SET state = %s, attempts = attempts + 1, updated_at = %s, '
        "next_attempt_at = NULL WHERE id = ANY(%s::bigint[]) AND state = %s "
        "AND (next_attempt_at IS NULL OR next_attempt_at <= %s) RETURNING id, attempts"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [str(MessageState.SENDING.value), now, pg_array(ids), str(MessageState.QUEUED.value), now])
        return dict(cursor.fetchall())


def deliveries_reopen_stale(*, older_than: datetime, limit: int = 5000) -> dict[int, list[int]]:
    """Claims of workers that died mid-send (sending for longer than any gateway call takes) go
    back to queued. Returns {task id: delivery ids} to queue again; each is re-opened once."""
    table, messages = Delivery._meta.db_table, Message._meta.db_table
    if connection.vendor != "postgresql":
        rows = list(
            Delivery.objects.filter(state=MessageState.SENDING, updated_at__lt=older_than).values_list(
                "pk", "message__task_id"
            )[:limit]
        )
        Delivery.objects.filter(pk__in=[r[0] for r in rows], state=MessageState.SENDING).update(
            state=MessageState.QUEUED, updated_at=timezone.now()
        )
    else:
        sql = (
            f'UPDATE "{table}" AS d SET state = %s, updated_at = %s FROM "{messages}" AS m '
            f'WHERE d.id IN (SELECT id FROM "{table}" WHERE state = %s AND updated_at < %s '
            "ORDER BY updated_at LIMIT %s FOR UPDATE SKIP LOCKED) AND m.id = d.message_id AND d.state = %s "
            "RETURNING d.id, m.task_id"
        )
        sending = str(MessageState.SENDING.value)
        with connection.cursor() as cursor:
            cursor.execute(sql, [str(MessageState.QUEUED.value), timezone.now(), sending, older_than, limit, sending])
            rows = cursor.fetchall()
    by_task: dict[int, list[int]] = defaultdict(list)
    for pk, task_id in rows:
        by_task[task_id].append(pk)
    if rows:
        logger.warning("re-opened %d deliveries claimed by a worker that stopped mid-send", len(rows))
    return dict(by_task)


def deliveries_park(delivery_ids: Sequence[int], *, until: datetime) -> None:
    """A retry later than the broker can hold a countdown: the database keeps it (next_attempt_at)."""
    Delivery.objects.filter(pk__any=Many(delivery_ids), state=MessageState.QUEUED).update(next_attempt_at=until)


def deliveries_due(*, now: datetime | None = None, limit: int = 5000) -> dict[int, list[int]]:
    """Parked deliveries whose time has come: {task id: ids} to queue. Each is handed out once
    (the UPDATE clears its next attempt; the chunk's claim then checks it is still queued)."""
    now = now or timezone.now()
    table, messages = Delivery._meta.db_table, Message._meta.db_table
    if connection.vendor != "postgresql":
        rows = list(
            Delivery.objects.filter(next_attempt_at__lte=now, state=MessageState.QUEUED).values_list(
                "pk", "message__task_id"
            )[:limit]
        )
        Delivery.objects.filter(pk__in=[r[0] for r in rows]).update(next_attempt_at=None)
    else:
        sql = (
            f'UPDATE "{table}" AS d SET next_attempt_at = NULL FROM "{messages}" AS m '
            f'WHERE d.id IN (SELECT id FROM "{table}" WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= %s '
            "ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) AND m.id = d.message_id "
            "RETURNING d.id, m.task_id, d.state"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, limit])
            rows = [(pk, task_id) for pk, task_id, state in cursor.fetchall() if state == MessageState.QUEUED]
    by_task: dict[int, list[int]] = defaultdict(list)
    for pk, task_id in rows:
        by_task[task_id].append(pk)
    return dict(by_task)


def deliveries_wait(delivery_ids: Sequence[int], *, reason: str = "", now: datetime | None = None) -> None:
    """Self-built channel: the message waits for the device to fetch and ack it (status 0)."""
    now = now or timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update()
            .filter(pk__any=Many(delivery_ids), state__in=[MessageState.QUEUED, MessageState.SENDING])
            .order_by("pk")
        )
        for d in rows:
            d.state = MessageState.WAITING
            d.status = PushStatus.DEVICE_NOT_ONLINE
            d.updated_at = now
        _bulk_set(Delivery, rows, ["state", "status", "updated_at"])
        publish_after_commit(d.device_id for d in rows)
        StatusEvent.objects.bulk_create(
            StatusEvent(
                message_id=d.message_id,
                delivery=d,
                at=now,
                state=MessageState.WAITING,
                status=PushStatus.DEVICE_NOT_ONLINE,
                description=reason or status_text(PushStatus.DEVICE_NOT_ONLINE),
                channel=d.channel,
            )
            for d in rows
        )
        messages_refresh({d.message_id for d in rows}, now=now)


def messages_refresh(message_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Derive each message's state from its deliveries; a final message is never touched again."""
    ids = list(message_ids)
    if not ids:
        return
    now = now or timezone.now()
    # Lock the messages first, then read their deliveries: two chunks of one broadcast
    # finishing together must not both decide from each other's uncommitted rows.
    messages = list(Message.objects.select_for_update().filter(pk__any=Many(ids), state__in=OPEN_STATES).order_by("pk"))
    fanout = [m for m in messages if not m.target_id]
    if fanout:
        # A broadcast message has one delivery per device: decide from counts, not rows.
        for m in fanout:
            _fanout_refresh(m, now)
        messages = [m for m in messages if m.target_id]
    per_message: dict[int, list[dict]] = defaultdict(list)
    for row in Delivery.objects.filter(message_id__any=Many([m.pk for m in messages])).values(
        "message_id", "state", "status", "gateway_code", "gateway_reason", "channel", "updated_at"
    ):
        per_message[row["message_id"]].append(row)
    changed, events = [], []
    for message in messages:
        rows = per_message.get(message.pk)
        if not rows:
            continue
        states = {r["state"] for r in rows}
        accepted = [r for r in rows if r["state"] == MessageState.ACCEPTED]
        if accepted:
            # One device acked or accepted: the message reached its target.
            pick, state = accepted[0], (MessageState.ACCEPTED if states <= FINAL_STATES else MessageState.SENDING)
            if state != MessageState.ACCEPTED and MessageState.WAITING in states:
                state = MessageState.WAITING
        elif states <= FINAL_STATES:
            pick = max(rows, key=lambda r: r["updated_at"])
            state = pick["state"]
        elif MessageState.WAITING in states:
            pick = next(r for r in rows if r["state"] == MessageState.WAITING)
            state = MessageState.WAITING
        else:
            pick, state = rows[0], MessageState.SENDING
        status = pick["status"]
        desc = _desc(status, pick["gateway_code"], pick["gateway_reason"])
        if (message.state, message.status, message.status_desc) == (state, status, desc):
            continue
        message.state, message.status, message.status_desc = state, status, desc
        message.status_changed_at = now
        message.channel = pick["channel"]
        changed.append(message)
        if state in FINAL_STATES:
            events.append(
                StatusEvent(
                    message=message, at=now, state=state, status=status, description=desc, channel=message.channel
                )
            )
    _bulk_set(Message, changed, ["state", "status", "status_desc", "status_changed_at", "channel"])
    StatusEvent.objects.bulk_create(events)


def _fanout_refresh(message: Message, now: datetime, *, expire: bool = False) -> None:
    """A fan-out message is final once every range of it is done and its deliveries are final.

    `expire`: past its valid period, it is final once its existing deliveries are (a range whose
    chunk never ran will not send any more)."""
    deliveries = Delivery.objects.filter(message=message)
    if deliveries.filter(state__in=OPEN_STATES).exists():  # partial index: cheap
        if message.state in (MessageState.PENDING, MessageState.QUEUED):
            Message.objects.filter(pk=message.pk).update(state=MessageState.SENDING, status_changed_at=now)
        return
    expected = message.fanout_devices
    if expected is None:  # dispatched before messages counted their own devices
        expected = PushTask.objects.filter(pk=message.task_id).values_list("target_count", flat=True).first() or 0
    ranges = FanoutRange.objects.filter(message=message)
    if not expire:
        if ranges.filter(done=False).exists():
            return  # later chunks have not created their deliveries yet
        if not ranges.exists() and deliveries.count() < expected:
            return  # dispatched before ranges were recorded: decide from the count
    if not deliveries.exists():
        if not expire:  # every device of every range was gone (deleted, logged out) when its chunk ran
            reason = "no device of the target was left to send to"
            messages_close(
                [message.pk], state=MessageState.FAILED, status=PushStatus.NO_BIND_INFO, reason=reason, now=now
            )
        return  # expired without any delivery: the sweep's "expired before it could be sent"
    accepted = deliveries.filter(state=MessageState.ACCEPTED).count()
    if accepted:
        state, status, desc = MessageState.ACCEPTED, PushStatus.ACKED, f"{accepted} of {expected} devices reached"
    else:
        last = deliveries.order_by("-updated_at").values("state", "status", "gateway_code", "gateway_reason").first()
        state, status = last["state"], last["status"]
        desc = _desc(status, last["gateway_code"], last["gateway_reason"])
    message.state, message.status, message.status_desc, message.status_changed_at = state, status, desc[:300], now
    message.save(update_fields=["state", "status", "status_desc", "status_changed_at"])
    StatusEvent.objects.create(message=message, at=now, state=state, status=status, description=desc[:300])


def fanout_messages_expire(message_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Fan-out messages past their valid period whose deliveries are all final end final, even
    when a range never created every device's delivery. Returns how many closed."""
    ids = list(message_ids)
    now = now or timezone.now()
    closed = 0
    with transaction.atomic():
        for m in Message.objects.select_for_update().filter(pk__any=Many(ids), state__in=OPEN_STATES).order_by("pk"):
            _fanout_refresh(m, now, expire=True)
            closed += Message.objects.filter(pk=m.pk, state__in=FINAL_STATES).exists()
    return closed


def deliveries_retrying(
    outcomes: Sequence[Outcome],
    *,
    next_at: dict[int, datetime],
    park_after: float,
    now: datetime | None = None,
) -> None:
    """A transient gateway error: back to the queue until `next_at`, with the gateway's answer on
    the timeline ("retrying, attempt n, next at t") and on the message while it waits. A wait
    longer than `park_after` seconds is parked in the database (next_attempt_at)."""
    if not outcomes:
        return
    now = now or timezone.now()
    by_id = {o.delivery_id: o for o in outcomes}
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update().filter(pk__any=Many(by_id), state__in=OPEN_STATES).order_by("pk")
        )
        descs: dict[int, str] = {}
        for d in rows:
            o = by_id[d.pk]
            at = next_at[d.pk]
            d.state, d.gateway_code, d.gateway_reason, d.updated_at = (
                MessageState.QUEUED,
                o.gateway_code,
                o.reason[:200],
                now,
            )
            d.next_attempt_at = at if (at - now).total_seconds() > park_after else None
            descs[d.pk] = (
                f"retrying, attempt {d.attempts + 1}, next at {at:%Y-%m-%d %H:%M:%S} UTC: "
                + _desc(d.status, o.gateway_code, o.reason)
            )[:300]
        _bulk_set(Delivery, rows, ["state", "gateway_code", "gateway_reason", "updated_at", "next_attempt_at"])
        retried = Counter((d.channel, "error", d.gateway_code or "") for d in rows)
        transaction.on_commit(lambda: metrics.record_deliveries(retried))
        StatusEvent.objects.bulk_create(
            StatusEvent(
                message_id=d.message_id,
                delivery=d,
                at=now,
                state=MessageState.QUEUED,
                status=d.status,
                description=descs[d.pk],
                channel=d.channel,
            )
            for d in rows
        )
        # The message says it is retrying (not "waiting for verification"); a final one is left alone.
        messages = Message.objects.select_for_update().filter(
            pk__any=Many({d.message_id for d in rows}), state__in=OPEN_STATES, fanout_devices__isnull=True
        )
        latest = {d.message_id: d for d in rows}
        changed = []
        for m in messages.order_by("pk"):
            d = latest[m.pk]
            m.state, m.status, m.status_desc = MessageState.SENDING, PushStatus.DEVICE_NOT_ONLINE, descs[d.pk]
            m.status_changed_at, m.channel = now, d.channel
            changed.append(m)
        _bulk_set(Message, changed, ["state", "status", "status_desc", "status_changed_at", "channel"])


def devices_mark_dead(device_ids: Iterable[int], *, reason: str, now: datetime | None = None) -> None:
    """The gateway said the token is dead: later sends skip the device (and count it)."""
    from campaigns.models import Device

    Device.objects.filter(pk__any=Many(device_ids), token_dead_at__isnull=True).update(
        token_dead_at=now or timezone.now(), token_dead_reason=reason[:120]
    )


def messages_close(
    message_ids: Iterable[int], *, state: str, status: int, reason: str = "", now: datetime | None = None
) -> int:
    """Final state for messages that have no delivery (no binding expired, cancelled, unknown device)."""
    message_ids = list(message_ids)
    if not message_ids:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        messages = list(
            Message.objects.select_for_update().filter(pk__any=Many(message_ids), state__in=OPEN_STATES).order_by("pk")
        )
        desc = (reason or status_text(status))[:300]
        for m in messages:
            m.state, m.status, m.status_desc, m.status_changed_at = state, status, desc, now
        _bulk_set(Message, messages, ["state", "status", "status_desc", "status_changed_at"])
        StatusEvent.objects.bulk_create(
            StatusEvent(message=m, at=now, state=state, status=status, description=desc) for m in messages
        )
        if state == MessageState.FAILED:
            per_task = Counter(m.task_id for m in messages)
            for task_id, n in per_task.items():
                PushTask.objects.filter(pk=task_id).update(failed=F("failed") + n)
    return len(messages)


def messages_cancel_undelivered(task_id: int, *, reason: str, limit: int, now: datetime | None = None) -> int:
    """Up to `limit` open messages of a stopped task that have no delivery yet end CANCELLED, with
    their timeline line: one statement, committed on its own (the stop of a big send is many)."""
    now = now or timezone.now()
    open_states = [str(s.value) for s in OPEN_STATES]
    if connection.vendor != "postgresql":
        ids = list(
            Message.objects.filter(task_id=task_id, state__in=open_states, deliveries__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        return messages_close(ids, state=MessageState.CANCELLED, status=PushStatus.CANCELLED, reason=reason, now=now)
    messages, deliveries, events = Message._meta.db_table, Delivery._meta.db_table, StatusEvent._meta.db_table
    sql = (
        f'WITH picked AS (SELECT m.id FROM "{messages}" m WHERE m.task_id = %s AND m.state = ANY(%s::varchar[]) '
        f'AND NOT EXISTS (SELECT 1 FROM "{deliveries}" d WHERE d.message_id = m.id) ORDER BY m.id LIMIT %s '
        "FOR UPDATE OF m), "
        f'closed AS (UPDATE "{messages}" t SET state = %s, status = %s, status_desc = %s, status_changed_at = %s '
        "FROM picked WHERE t.id = picked.id AND t.state = ANY(%s::varchar[]) RETURNING t.id) "
        f'INSERT INTO "{events}" (message_id, at, state, status, description, channel) '
        "SELECT id, %s, %s, %s, %s, '' FROM closed"
    )
    cancelled, code, desc = str(MessageState.CANCELLED.value), int(PushStatus.CANCELLED), reason[:300]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            sql,
            [task_id, open_states, limit, cancelled, code, desc, now, open_states, now, cancelled, code, desc],
        )
        return cursor.rowcount


def messages_wait_for_binding(message_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """1 NoBindInfo: the user has no device yet; the message waits until a binding appears or it expires."""
    message_ids = list(message_ids)
    if not message_ids:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        messages = list(
            Message.objects.select_for_update()
            .filter(pk__any=Many(message_ids), state__in=[MessageState.PENDING, MessageState.QUEUED])
            .order_by("pk")
        )
        desc = status_text(PushStatus.NO_BIND_INFO)
        for m in messages:
            m.state, m.status, m.status_desc, m.status_changed_at = (
                MessageState.WAITING,
                PushStatus.NO_BIND_INFO,
                desc,
                now,
            )
        _bulk_set(Message, messages, ["state", "status", "status_desc", "status_changed_at"])
        StatusEvent.objects.bulk_create(
            StatusEvent(message=m, at=now, state=MessageState.WAITING, status=PushStatus.NO_BIND_INFO, description=desc)
            for m in messages
        )
    return len(messages)


def messages_mark_sending(message_ids: Iterable[int], *, now: datetime | None = None) -> None:
    Message.objects.filter(pk__any=Many(message_ids), state__in=[MessageState.PENDING, MessageState.QUEUED]).update(
        state=MessageState.SENDING, status_changed_at=now or timezone.now()
    )


def delivery_event(*, delivery: Delivery, event: str, now: datetime | None = None) -> bool:
    """A device reported arrive/click/clean/ignore. Counted once per delivery and event."""
    now = now or timezone.now()
    field = {
        ReceiptEventType.ARRIVE: "arrived_at",
        ReceiptEventType.CLICK: "clicked_at",
        ReceiptEventType.CLEAN: "cleared_at",
        ReceiptEventType.IGNORE: "ignored_at",
    }[event]
    figure = {"arrived_at": "arrived", "clicked_at": "opened", "cleared_at": "cleared", "ignored_at": "ignored"}[field]
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk, **{f"{field}__isnull": True}).update(**{field: now})
        if not updated:
            return False
        message = delivery.message
        ReceiptEvent.objects.create(
            app_id=message.app_id,
            message=message,
            device_id=delivery.device_id,
            event=event,
            channel=delivery.channel,
            at=now,
        )
        StatusEvent.objects.create(
            message=message,
            delivery=delivery,
            at=now,
            state=delivery.state,
            status=delivery.status,
            description=f"device reported {event}",
            channel=delivery.channel,
        )
        if figure in ("arrived", "opened", "cleared"):
            shown = {"opened": "clicked"}.get(figure, figure)
            task_channel_add({(message.task_id, delivery.channel): Counter({shown: 1})})
        if figure in ("arrived", "opened"):
            PushTask.objects.filter(pk=message.task_id).update(**{figure: F(figure) + 1})
        rollup_add(
            app_id=message.app_id,
            at=now,
            platform=delivery.device.platform,
            app_version=delivery.device.app_version,
            channel=delivery.channel,
            push_type=message.push_type,
            **{figure: 1},
        )
    return True


def timeline_note(*, message_id: int, delivery_id: int | None, description: str, now: datetime | None = None) -> None:
    """A timeline line that does not change the status (SMS fallback sent, callback given up)."""
    message = Message.objects.only("state", "status", "channel").get(pk=message_id)
    StatusEvent.objects.create(
        message_id=message_id,
        delivery_id=delivery_id,
        at=now or timezone.now(),
        state=message.state,
        status=message.status,
        description=description[:300],
        channel=message.channel,
    )


def task_maybe_finish(task_id: int, *, now: datetime | None = None) -> bool:
    """FINISHED only when the task was running and every one of its messages is final."""
    with transaction.atomic():
        task = PushTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None or task.status != TaskStatus.RUNNING:
            return False
        # The open states by name, not "not final": an index range on (task, state) of the few
        # still open, instead of every message of the task read to find none.
        if Message.objects.filter(task_id=task_id, state__in=OPEN_STATES).exists():
            return False
        task.status = TaskStatus.FINISHED
        task.finished_at = now or timezone.now()
        task.save(update_fields=["status", "finished_at"])
    return True
