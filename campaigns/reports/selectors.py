"""Reads behind the message list, task list, device query, push records, receipt log,
troubleshooting tool and usage analysis.

Lists page by key (created_at, id), never by OFFSET, so the millionth row costs what the
first does. Analysis reads UsageRollup only: it never scans messages.
"""

from __future__ import annotations

import base64
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from campaigns.codes import GATEWAY_CODE_TEXT, status_text
from campaigns.models import (
    Channel,
    Delivery,
    Device,
    Granularity,
    Message,
    PushTask,
    PushType,
    ReceiptEvent,
    StatusEvent,
    TargetType,
    TaskChannelCount,
    UsageRollup,
    UserBinding,
)
from campaigns.rollups import FIGURES
from console.models import App
from console.selectors import given_lookups

PAGE_SIZE = 50
LIST_DAYS = 30
# Shown in the message list by default; MULTIPLE only when searched, BROADCAST never
# (broadcasts live in the task list). The same IN list is the predicate of the partial
# index `message_list_time`, so PostgreSQL can use it.
DEFAULT_LIST_TYPES = (PushType.SIMPLE, PushType.TEMPLATE, PushType.CONTINUOUS)
SEARCH_LIST_TYPES = (*DEFAULT_LIST_TYPES, PushType.MULTIPLE)
TASK_LIST_TYPES = tuple(PushType.values)
RUNNING_TASK_STATES = ("queued", "ingesting", "running", "validating", "scheduled", "awaiting_approval")


# ---------------------------------------------------------------- keyset cursor


def encode_cursor(at: datetime, pk: int) -> str:
    raw = f"{at.isoformat()}|{pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """The (created_at, id) of the last row seen, or None for a cursor that is not ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, pk_text = raw.split("|")
        at = datetime.fromisoformat(at_text)
        pk = int(pk_text)
    except (ValueError, UnicodeDecodeError):
        return None
    if timezone.is_naive(at):
        return None
    return at, pk


@dataclass
class Page:
    rows: list
    next_cursor: str = ""


def _keyset_page(qs: QuerySet, *, cursor: str, column: str, size: int) -> Page:
    table = qs.model._meta.db_table
    after = decode_cursor(cursor)
    if after is not None:
        # A row comparison walks the (…, column, id) index, read backward, straight to the spot.
        qs = qs.extra(where=[f'("{table}"."{column}", "{table}"."id") < (%s, %s)'], params=[after[0], after[1]])
    rows = list(qs.order_by(f"-{column}", "-id")[: size + 1])
    next_cursor = ""
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, column), last.pk)
    return Page(rows=rows, next_cursor=next_cursor)


# ---------------------------------------------------------------- messages


def message_queryset(
    *,
    app: App,
    now: datetime | None = None,
    target_id: str = "",
    customer_msg_id: str = "",
    state: str = "",
    channel: str = "",
    push_type: str = "",
    day_start: datetime | None = None,
    day_end: datetime | None = None,
    task_id: int | None = None,
) -> QuerySet[Message]:
    """Messages of the last 30 days matching the filters (no ordering, no page).

    One task's messages are all listed, whatever its push type (a broadcast's one message too).
    """
    now = now or timezone.now()
    qs = Message.objects.filter(app=app, created_at__gte=now - timedelta(days=LIST_DAYS))
    searching = bool(target_id or customer_msg_id)
    if task_id:
        qs = qs.filter(task_id=task_id)
        if push_type:
            qs = qs.filter(push_type=push_type)
    elif push_type:
        allowed = SEARCH_LIST_TYPES if searching else (*DEFAULT_LIST_TYPES, PushType.MULTIPLE)
        qs = qs.filter(push_type=push_type if push_type in allowed else "-")
    else:
        qs = qs.filter(push_type__in=SEARCH_LIST_TYPES if searching else DEFAULT_LIST_TYPES)
    return qs.filter(
        **given_lookups(
            target_id=target_id,
            customer_msg_id=customer_msg_id,
            state=state,
            channel=channel,
            created_at__gte=day_start,
            created_at__lt=day_end,
        )
    )


def message_list(*, app: App, cursor: str = "", size: int = PAGE_SIZE, **filters) -> Page:
    qs = message_queryset(app=app, **filters).only(
        "id", "created_at", "customer_msg_id", "push_type", "target_type", "target_id", "title", "state", "channel"
    )
    return _keyset_page(qs, cursor=cursor, column="created_at", size=size)


@dataclass
class TimelineEntry:
    at: datetime
    state: str
    status: int
    status_text: str
    description: str
    channel: str
    gateway_code: int | None
    gateway_text: str
    device_id: str


def message_get(*, app: App, message_id: int) -> Message | None:
    return Message.objects.filter(app=app, pk=message_id).select_related("task").first()


def vendor_message_ids(*, message: Message, limit: int = 10) -> list[tuple[str, str]]:
    """(channel, vendor message id) of the message's deliveries the gateways gave an id for (a few).

    Looked for among the first `limit * 20` deliveries in the (message, device) index's order:
    a broadcast of millions on a channel that gives no ids costs a bounded read, not a scan."""
    rows = (
        Delivery.objects.filter(message=message)
        .order_by("device_id")
        .values_list("channel", "gateway_message_id")[: limit * 20]
    )
    return list(dict.fromkeys(row for row in rows if row[1]))[:limit]


@dataclass
class DeliveryRoute:
    device_id: str
    channel: str
    package: str  # the channel package (Android) the gateway was chosen by; "" for APNs / self-built
    state: str


ANDROID_PACKAGE_CHANNELS = {
    Channel.FCM,
    Channel.HUAWEI,
    Channel.XIAOMI,
    Channel.OPPO,
    Channel.VIVO,
    Channel.HONOR,
    Channel.MEIZU,
}


def delivery_routes(*, message: Message, limit: int = 20) -> list[DeliveryRoute]:
    """Each delivery's channel and channel package (a few): the package is chosen as the send
    chooses it, the device's own package name or else the app's main package."""
    rows = (
        Delivery.objects.filter(message=message)
        .order_by("device_id")  # the (message, device) index's order: the first few of a broadcast at once
        .values_list("channel", "state", "device__device_id", "device__package_name", "device__platform")[:limit]
    )
    main = message.app.android_package
    return [
        DeliveryRoute(
            device_id=device_id,
            channel=channel,
            package=(package or main)
            if channel in ANDROID_PACKAGE_CHANNELS or (channel == Channel.SANDBOX and platform == "android")
            else "",
            state=state,
        )
        for channel, state, device_id, package, platform in rows
    ]


TIMELINE_PAGE = 100


@dataclass
class TimelinePage:
    rows: list[TimelineEntry]
    next_cursor: str = ""  # the (at, id) of the last event shown, when more follow


def _events_page(sources: list[QuerySet[StatusEvent]], cursor: str, size: int) -> tuple[list[StatusEvent], str]:
    """The first `size` events after the cursor, in (at, id) order, of one or more sources
    (each read up to size + 1 through its own index), and the cursor of the page after."""
    after = decode_cursor(cursor)
    events: list[StatusEvent] = []
    for source in sources:
        if after is not None:
            # A row comparison walks the (…, at) index straight to the spot.
            source = source.extra(
                where=['("campaigns_statusevent"."at", "campaigns_statusevent"."id") > (%s, %s)'],
                params=[after[0], after[1]],
            )
        events += source.order_by("at", "id")[: size + 1]
    if len(sources) > 1:
        events.sort(key=lambda e: (e.at, e.pk))
    if len(events) <= size:
        return events, ""
    events = events[:size]
    return events, encode_cursor(events[-1].at, events[-1].pk)


def message_timeline(*, message: Message, cursor: str = "", size: int = TIMELINE_PAGE) -> TimelinePage:
    """The message's status events in time order, a page at a time."""
    # The page's events first, then their deliveries and devices by key: a broadcast's
    # timeline has an entry per device, and a join before the LIMIT would read them all.
    return _timeline_page(*_events_page([StatusEvent.objects.filter(message=message)], cursor, size))


def device_timeline(
    *, message: Message, delivery: Delivery | None, cursor: str = "", size: int = TIMELINE_PAGE
) -> TimelinePage:
    """One device's story of a message: its delivery's events and the message's own (those no
    delivery carries; only those without a delivery), read through the delivery index and the
    partial (message, at) index of message-level events, never by walking every device's events."""
    sources = [StatusEvent.objects.filter(message=message, delivery=None)]
    if delivery is not None:
        sources.append(StatusEvent.objects.filter(delivery=delivery))
    return _timeline_page(*_events_page(sources, cursor, size))


def delivery_for_device(*, message: Message, device_id: str) -> tuple[Device | None, Delivery | None]:
    """The app's device with this id, and its delivery of the message (None for either one missing)."""
    device = Device.objects.filter(app_id=message.app_id, device_id=device_id.strip()).first()
    if device is None:
        return None, None
    return device, Delivery.objects.filter(message=message, device=device).select_related("device").first()


def _timeline_page(events: list[StatusEvent], next_cursor: str) -> TimelinePage:
    deliveries = Delivery.objects.filter(pk__in={e.delivery_id for e in events if e.delivery_id})
    by_pk = {d.pk: d for d in deliveries.select_related("device").only("gateway_code", "device__device_id")}
    out = []
    seen = set()
    for event in events:
        delivery = by_pk.get(event.delivery_id)
        # The same state recorded twice for one delivery (a retry that ended as the first try) is one row.
        key = (event.delivery_id, event.state, event.status, event.description)
        if key in seen:
            continue
        seen.add(key)
        code = delivery.gateway_code if delivery else None
        out.append(
            TimelineEntry(
                at=event.at,
                state=event.state,
                status=event.status,
                status_text=status_text(event.status),
                description=event.description,
                channel=event.channel,
                gateway_code=code,
                gateway_text=GATEWAY_CODE_TEXT.get(code, "") if code is not None else "",
                device_id=delivery.device.device_id if delivery else "",
            )
        )
    return TimelinePage(rows=out, next_cursor=next_cursor)


# ---------------------------------------------------------------- tasks


def task_queryset(
    *,
    app: App,
    task_id: int | None = None,
    name: str = "",
    started_from: datetime | None = None,
    started_to: datetime | None = None,
    push_types: tuple[str, ...] = TASK_LIST_TYPES,
) -> QuerySet[PushTask]:
    qs = PushTask.objects.filter(app=app)
    if set(push_types) != set(PushType.values):
        qs = qs.filter(push_type__in=push_types)
    return qs.filter(
        **given_lookups(pk=task_id, name__icontains=name, created_at__gte=started_from, created_at__lt=started_to),
    )


def task_list(*, app: App, cursor: str = "", size: int = PAGE_SIZE, **filters) -> Page:
    qs = task_queryset(app=app, **filters).select_related("template_version__template", "created_by")
    return _keyset_page(qs, cursor=cursor, column="created_at", size=size)


def task_get(*, app: App, task_id: int) -> PushTask | None:
    return PushTask.objects.filter(app=app, pk=task_id).select_related("template_version__template").first()


def task_progress(task: PushTask) -> int:
    """Per cent of the task's targets that reached a final state or were pushed."""
    total = task.target_count or task.total_rows
    if not total:
        return 100 if task.status in ("finished", "stopped", "cancelled", "failed") else 0
    done = max(task.pushed, task.ingested_rows if task.status == "ingesting" else 0)
    return min(100, int(done * 100 / total))


# ---------------------------------------------------------------- devices


@dataclass
class DeviceReport:
    device: Device
    user_ids: list[str]
    aliases: list[str]
    tags: list[str]
    deliveries: list[Delivery]


def recent_devices(*, app: App, size: int = 20) -> list[Device]:
    """The newest devices of the app (walks the primary key backwards: bounded at any size)."""
    return list(
        Device.objects.filter(app=app)
        .order_by("-pk")
        .only("device_id", "platform", "manufacturer", "app_version", "last_active_at", "created_at")[:size]
    )


def device_lookup(*, app: App, user_id: str = "", device_id: str = "") -> list[DeviceReport]:
    """Devices by user id (through bindings) or device id, with their last deliveries."""
    if device_id:
        devices = list(Device.objects.filter(app=app, device_id=device_id))
    elif user_id:
        ids = UserBinding.objects.filter(app=app, user_id=user_id).values("device_id")
        devices = list(Device.objects.filter(app=app, pk__in=ids).order_by("device_id")[:50])
    else:
        return []
    reports = []
    for device in devices:
        reports.append(
            DeviceReport(
                device=device,
                user_ids=list(
                    UserBinding.objects.filter(device=device).order_by("user_id").values_list("user_id", flat=True)[:50]
                ),
                aliases=list(device.aliases.order_by("alias").values_list("alias", flat=True)[:128]),
                tags=list(device.tags.order_by("name").values_list("name", flat=True)[:200]),
                deliveries=list(
                    Delivery.objects.filter(device=device).select_related("message").order_by("-created_at")[:20]
                ),
            )
        )
    return reports


# ---------------------------------------------------------------- push records and receipts


@dataclass
class ChannelStats:
    channel: str
    sent: int = 0
    arrived: int = 0
    clicked: int = 0
    cleared: int = 0


@dataclass
class PushRecord:
    task: PushTask
    target_types: list[str]
    channels: list[ChannelStats] = field(default_factory=list)


def push_record_list(*, app: App, cursor: str = "", size: int = 20) -> tuple[list[PushRecord], str]:
    """Every push with its target types and per-channel sent/arrived/clicked/cleared."""
    page = _keyset_page(
        PushTask.objects.filter(app=app).select_related("template_version__template"),
        cursor=cursor,
        column="created_at",
        size=size,
    )
    ids = [t.pk for t in page.rows]
    # Counters kept per send and channel as deliveries are sent and reported: a few rows per
    # send, whether it reached ten devices or ten million.
    stats: dict[int, dict[str, ChannelStats]] = {pk: {} for pk in ids}
    for row in TaskChannelCount.objects.filter(task_id__in=ids).order_by("task_id", "channel"):
        stats[row.task_id][row.channel] = ChannelStats(
            channel=row.channel, sent=row.sent, arrived=row.arrived, clicked=row.clicked, cleared=row.cleared
        )
    labels = dict(TargetType.choices)
    kinds: dict[int, list[str]] = {}
    unknown = []
    for t in page.rows:
        # The send keeps its target types (one, or a continuous send's batches'); only a send
        # that does not (a test push) reads its few messages.
        known = t.params.get("target_types") or ([t.params["target_type"]] if t.params.get("target_type") else [])
        if known:
            kinds[t.pk] = list(known)
        else:
            unknown.append(t.pk)
            kinds[t.pk] = []
    for row in Message.objects.filter(task_id__in=unknown).values("task_id", "target_type").distinct():
        kinds[row["task_id"]].append(row["target_type"])
    # Shown to people: the label in their language, not the stored code.
    target_types = {pk: [str(labels.get(k, k)) for k in values] for pk, values in kinds.items()}
    records = [
        PushRecord(task=t, target_types=sorted(target_types[t.pk]), channels=list(stats[t.pk].values()))
        for t in page.rows
    ]
    return records, page.next_cursor


def receipt_list(
    *,
    app: App,
    cursor: str = "",
    size: int = PAGE_SIZE,
    at_from: datetime | None = None,
    at_to: datetime | None = None,
    event: str = "",
    device_id: str = "",
    message_id: int | None = None,
) -> Page:
    qs = ReceiptEvent.objects.filter(
        app=app, **given_lookups(at__gte=at_from, at__lt=at_to, event=event, message_id=message_id)
    ).select_related("device", "message")
    if device_id:
        qs = qs.filter(device__device_id=device_id, device__app=app)
    return _keyset_page(qs, cursor=cursor, column="at", size=size)


# ---------------------------------------------------------------- usage analysis

MAX_RANGE = timedelta(days=90)
FINE_RANGE = timedelta(days=1)


@dataclass
class UsageRow:
    bucket: datetime
    pushed: int
    arrived: int
    opened: int
    ignored: int
    cleared: int
    # Ignored is only reported by the self-built channel: its rate is over self-built arrivals.
    selfbuilt_arrived: int = 0

    @property
    def arrived_rate(self) -> float | None:
        return rate(self.arrived, self.pushed)

    @property
    def opened_rate(self) -> float | None:
        return rate(self.opened, self.arrived)

    @property
    def ignored_rate(self) -> float | None:
        return rate(self.ignored, self.selfbuilt_arrived)


def rate(part: int, whole: int) -> float | None:
    """A percentage rounded to 2 places, or None when the whole is 0 (shown as "-")."""
    if not whole:
        return None
    return round(part * 100 / whole, 2)


def _rollup_filter(*, app: App, platform: str, app_version: str, channel: str, push_type: str) -> Q:
    return Q(app=app, **given_lookups(platform=platform, app_version=app_version, channel=channel, push_type=push_type))


def usage_series(
    *,
    app: App,
    start: datetime,
    end: datetime,
    granularity: str,
    tz: zoneinfo.ZoneInfo | None = None,
    platform: str = "",
    app_version: str = "",
    channel: str = "",
    push_type: str = "",
) -> list[UsageRow]:
    """Figures per bucket in [start, end). Day buckets sum hour rows by the viewer's local day."""
    if end - start > MAX_RANGE:
        raise ValueError("range longer than 90 days")
    if granularity in (Granularity.MINUTE, Granularity.HOUR) and end - start > FINE_RANGE:
        raise ValueError("minute and hour granularity need a range of one day or less")
    base = UsageRollup.objects.filter(
        _rollup_filter(app=app, platform=platform, app_version=app_version, channel=channel, push_type=push_type),
        bucket__gte=start,
        bucket__lt=end,
    )
    sums = _sums()
    if granularity == "day":
        tz = tz or timezone.get_current_timezone()
        qs = (
            base.filter(granularity=Granularity.HOUR)
            .annotate(day=TruncDay("bucket", tzinfo=tz))
            .values("day")
            .annotate(**sums)
            .order_by("day")
        )
        return [_usage_row(r["day"], r) for r in qs]
    qs = base.filter(granularity=granularity).values("bucket").annotate(**sums).order_by("bucket")
    return [_usage_row(r["bucket"], r) for r in qs]


def fill_buckets(
    rows: list[UsageRow], *, start: datetime, end: datetime, granularity: str, tz: zoneinfo.ZoneInfo | None = None
) -> list[UsageRow]:
    """Every bucket of [start, end) in order, the ones without figures as zeros, so a chart
    spreads over the whole range (a week with sends on one day is seven points, not one)."""
    tz = tz or timezone.get_current_timezone()
    have = {r.bucket: r for r in rows}
    out = []
    if granularity == "day":
        day = start.astimezone(tz).date()
        while True:
            bucket = datetime.combine(day, datetime.min.time(), tz)
            if bucket >= end:
                break
            out.append(have.get(bucket) or _empty_row(bucket))
            day += timedelta(days=1)
        # A bucket the database labelled differently (a zone change at midnight) is kept too.
        seen = {r.bucket for r in out}
        out += [r for r in rows if r.bucket not in seen]
        return sorted(out, key=lambda r: r.bucket)
    step = timedelta(minutes=1) if granularity == Granularity.MINUTE else timedelta(hours=1)
    bucket = start.astimezone(UTC).replace(second=0, microsecond=0)
    if granularity == Granularity.HOUR:
        bucket = bucket.replace(minute=0)
    while bucket < end:
        out.append(have.get(bucket) or _empty_row(bucket))
        bucket += step
    seen = {r.bucket for r in out}
    out += [r for r in rows if r.bucket not in seen]
    return sorted(out, key=lambda r: r.bucket)


def _empty_row(bucket: datetime) -> UsageRow:
    return UsageRow(bucket=bucket, pushed=0, arrived=0, opened=0, ignored=0, cleared=0)


def _sums() -> dict:
    # Aliased: an annotation may not shadow the column it sums.
    sums = {f"sum_{f}": Sum(f) for f in FIGURES}
    sums["sum_selfbuilt_arrived"] = Sum("arrived", filter=Q(channel=Channel.SELF_BUILT))
    return sums


def _usage_row(bucket: datetime, r: dict) -> UsageRow:
    return UsageRow(
        bucket=bucket, selfbuilt_arrived=r["sum_selfbuilt_arrived"] or 0, **{f: r[f"sum_{f}"] or 0 for f in FIGURES}
    )


def usage_totals(rows: list[UsageRow]) -> UsageRow | None:
    if not rows:
        return None
    return UsageRow(
        bucket=rows[0].bucket,
        selfbuilt_arrived=sum(r.selfbuilt_arrived for r in rows),
        **{f: sum(getattr(r, f) for r in rows) for f in FIGURES},
    )


def usage_funnel(
    *,
    app: App,
    start: datetime,
    end: datetime,
    granularity: str,
    platform: str = "",
    app_version: str = "",
    channel: str = "",
    push_type: str = "",
) -> list[tuple[str, UsageRow]]:
    """Per-channel totals over the range (pushed → arrived → opened → cleared)."""
    source = Granularity.MINUTE if granularity == Granularity.MINUTE else Granularity.HOUR
    qs = (
        UsageRollup.objects.filter(
            _rollup_filter(app=app, platform=platform, app_version=app_version, channel=channel, push_type=push_type),
            granularity=source,
            bucket__gte=start,
            bucket__lt=end,
        )
        .values("channel")
        .annotate(**_sums())
        .order_by("channel")
    )
    return [(r["channel"], _usage_row(start, r)) for r in qs]


def app_versions(*, app: App, now: datetime | None = None) -> list[str]:
    """App versions seen in the last day: a hint for the filter that reads a day of hour rows only."""
    since = (now or timezone.now()) - timedelta(days=1)
    return list(
        UsageRollup.objects.filter(app=app, granularity=Granularity.HOUR, bucket__gte=since)
        .exclude(app_version="")
        .values_list("app_version", flat=True)
        .distinct()
        .order_by("app_version")[:200]
    )


# ---------------------------------------------------------------- exports


def message_export_rows(*, app: App, start: datetime, end: datetime) -> Iterator[tuple]:
    qs = (
        Message.objects.filter(app=app, created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "id")
        .values_list(
            "id",
            "customer_msg_id",
            "task_id",
            "push_type",
            "target_type",
            "target_id",
            "platform",
            "channel",
            "title",
            "state",
            "status",
            "status_changed_at",
            "created_at",
            "expires_at",
        )
    )
    for row in qs.iterator(chunk_size=2000):
        yield (*row[:10], row[10], status_text(row[10]), *row[11:])


def task_export_rows(*, app: App, start: datetime, end: datetime) -> Iterator[tuple]:
    qs = (
        PushTask.objects.filter(app=app, created_at__gte=start, created_at__lt=end)
        .select_related("template_version__template", "created_by")
        .order_by("created_at", "id")
    )
    for t in qs.iterator(chunk_size=2000):
        yield (
            t.pk,
            t.name,
            t.push_type,
            t.source,
            t.template_version.template.name if t.template_version else "",
            t.template_version.number if t.template_version else "",
            t.status,
            t.target_count,
            t.pushed,
            t.succeeded,
            t.failed,
            t.arrived,
            t.opened,
            t.created_at,
            t.started_at,
            t.finished_at,
            t.created_by.get_username() if t.created_by else t.api_caller,
        )
