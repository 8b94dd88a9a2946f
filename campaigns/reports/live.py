"""What the task page shows while a send runs and after: a bar per phase, counts by outcome
with rates, the reasons of failures, empty outcomes explained, and accepted deliveries over time.

A send to user ids, devices or a file counts messages (one per target line); a send to many
devices at once (broadcast, tags, all devices) counts that message's deliveries, one per device.
Every figure is one grouped count on the task's own rows (the (task, state) index for messages,
the (message, device) index for a broadcast's deliveries); the page polls less often for big sends.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Count
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from campaigns.codes import GATEWAY_CODE_TEXT, PushStatus
from campaigns.models import Delivery, Message, MessageState, PushTask, PushType, TaskStatus

FINAL_TASK_STATES = frozenset(
    {TaskStatus.FINISHED, TaskStatus.CANCELLED, TaskStatus.STOPPED, TaskStatus.REJECTED, TaskStatus.FAILED}
)
WAITING_TASK_STATES = frozenset({TaskStatus.DRAFT, TaskStatus.AWAITING_APPROVAL, TaskStatus.SCHEDULED})
OPEN_TO_SEND = (MessageState.PENDING, MessageState.QUEUED, MessageState.SENDING)

# The engine's own reasons (stored in English) and what a person reads instead.
ENGINE_REASONS = {
    "device unknown": gettext_lazy("The device id is not registered in this app"),
    "no device matches the target": gettext_lazy("No device matches the target"),
    "expired before sending": gettext_lazy("Expired before it could be sent"),
    "expired before the device acked": gettext_lazy("Expired before the device acknowledged it"),
    "no binding appeared before expiry": gettext_lazy("No device was bound to the user before it expired"),
    "expired before it could be sent": gettext_lazy("Expired before it could be sent"),
    "token dead": gettext_lazy("The device's push token is no longer valid"),
    "device acked": gettext_lazy("The device acknowledged it"),
    "SandboxUnregistered": gettext_lazy("The device token is no longer registered"),
    "SandboxFailure": gettext_lazy("The sandbox gateway refused it"),
    "SandboxUnavailable": gettext_lazy("The sandbox gateway was unavailable"),
    "cancelled": gettext_lazy("Cancelled"),
    "task stopped": gettext_lazy("Cancelled when the send was stopped"),
    "task cancelled": gettext_lazy("Cancelled with the send"),
}
GATEWAY_TEXT_LABELS = {
    "terminal not online": gettext_lazy("The device is not online"),
    "app uninstalled": gettext_lazy("The app was uninstalled"),
    "illegal token list": gettext_lazy("Invalid push token"),
    "all tokens illegal": gettext_lazy("Invalid push token"),
    "invalid registration id": gettext_lazy("Invalid registration id"),
    "invalid regId": gettext_lazy("Invalid registration id"),
    "invalid target": gettext_lazy("Invalid target"),
    "Unregistered": gettext_lazy("The device token is no longer registered"),
    "BadDeviceToken": gettext_lazy("Invalid device token"),
    "DeviceTokenNotForTopic": gettext_lazy("The device token belongs to another app"),
    "NotRegistered": gettext_lazy("The device token is no longer registered"),
    "InvalidRegistration": gettext_lazy("Invalid registration token"),
    "PayloadTooLarge": gettext_lazy("The message is too large"),
    "MessageTooBig": gettext_lazy("The message is too large"),
}
_CODE_TEXT = re.compile(r"^(-?\d+)\s*(.*)$", re.S)


def reason_label(text: str) -> str:
    """A stored status description as a person reads it, in their language.

    "80000003 terminal not online" -> "80000003 · The device is not online"; a vendor's own
    text is shown only in a console in that text's language (Chinese text in the Chinese
    console), and a code repeated as its own text ("22022 22022") is shown once.
    """
    text = (text or "").strip()
    if not text:
        return ""
    lowered = text.lower()
    for known, label in ENGINE_REASONS.items():
        known = known.lower()
        if lowered == known or lowered.startswith(known + ":"):
            return str(label)
    match = _CODE_TEXT.match(text)
    if match:
        code, rest = int(match.group(1)), match.group(2).strip()
        known = GATEWAY_TEXT_LABELS.get(rest) or GATEWAY_TEXT_LABELS.get(GATEWAY_CODE_TEXT.get(code, ""))
        if known:
            return f"{code} · {known}"
        if code in set(PushStatus.values):
            return f"{code} · {PushStatus(code).label}"
        if not rest or rest == str(code) or not _readable_here(rest):
            return _("%(code)s · Error reported by the push channel") % {"code": code}
        return f"{code} · {rest}"
    if not _readable_here(text):
        return _("Error reported by the push channel")
    return text


def _readable_here(text: str) -> bool:
    """Chinese text reads in the Chinese console only; the English one shows a label instead."""
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    return not has_cjk or (get_language() or "").lower().startswith("zh")


@dataclass
class Phase:
    key: str
    label: str
    done: int
    total: int
    state: str  # waiting | active | done | halted

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.state == "done" else 0
        return min(100, int(self.done * 100 / self.total))


@dataclass
class Figure:
    key: str
    label: str
    count: int
    rate: str = ""
    tone: str = ""  # good | bad | muted


@dataclass
class Bar:
    label: str
    count: int
    x: int
    height: int

    @property
    def y(self) -> int:
        return 100 - self.height


@dataclass
class Chart:
    bars: list[Bar]
    first: str
    last: str
    peak: int
    step_text: str
    total: int


@dataclass
class TaskLive:
    final: bool
    unit: str
    total: int
    poll_seconds: int
    phases: list[Phase]
    figures: list[Figure]
    reasons: list[tuple[str, int]]
    explanations: list[str] = field(default_factory=list)
    chart: Chart | None = None


def _rate(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "–"


def _fanout(task: PushTask) -> bool:
    if task.push_type == PushType.BROADCAST:
        return True
    params = task.params or {}
    return params.get("target_type") in ("tag", "all") or bool(params.get("tag_expression"))


def task_live(task: PushTask, *, now: datetime | None = None) -> TaskLive:
    now = now or timezone.now()
    fanout = _fanout(task)
    by_state: dict[str, int] = {}
    no_device = {"waiting": 0, "expired": 0, "failed": 0}
    message_rows = Message.objects.filter(task_id=task.pk).values_list("state", "status").annotate(n=Count("id"))
    for state, status, n in message_rows.order_by():
        by_state[state] = by_state.get(state, 0) + n
        if status == PushStatus.NO_BIND_INFO and state in no_device:
            no_device[state] += n
    messages_total = sum(by_state.values())
    message_states = dict(by_state)
    if fanout:
        delivery_states = dict(
            Delivery.objects.filter(message__task_id=task.pk)
            .values_list("state")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("state", "n")
        )
        # Before dispatch the devices are not known yet: the message itself is the only row.
        if delivery_states:
            by_state = delivery_states
        unit_total = max(task.target_count, sum(by_state.values()))
        unit = "devices"
    else:
        unit_total = max(task.total_rows, messages_total)
        unit = "messages"

    final = task.status in FINAL_TASK_STATES
    waiting_task = task.status in WAITING_TASK_STATES
    accepted = by_state.get(MessageState.ACCEPTED, 0)
    failed = by_state.get(MessageState.FAILED, 0)
    expired = by_state.get(MessageState.EXPIRED, 0)
    cancelled = by_state.get(MessageState.CANCELLED, 0)
    waiting = by_state.get(MessageState.WAITING, 0)
    not_sent = sum(by_state.get(s, 0) for s in OPEN_TO_SEND)
    closed = accepted + failed + expired + cancelled

    # Phases.
    halted = task.status in (TaskStatus.FAILED, TaskStatus.STOPPED, TaskStatus.CANCELLED, TaskStatus.REJECTED)
    if task.push_type == PushType.MULTIPLE:
        created_done, created_total = task.ingested_rows, task.total_rows
    else:
        created_done = created_total = max(task.total_rows, messages_total)
    if task.status == TaskStatus.INGESTING:
        create_state = "active"
    elif waiting_task or (task.status == TaskStatus.QUEUED and not messages_total):
        create_state = "waiting"
    elif halted and created_done < created_total:
        create_state = "halted"
    else:
        create_state = "done"
    if create_state == "done" and task.push_type != PushType.MULTIPLE:
        created_done = created_total = messages_total
    sent_done = unit_total - not_sent if unit_total else 0
    if waiting_task or create_state in ("active", "waiting") or (task.status == TaskStatus.QUEUED and not sent_done):
        send_state = "waiting"
    elif not_sent and not final:
        send_state = "active"
    elif halted and not_sent:
        send_state = "halted"
    else:
        send_state = "done"
    if send_state in ("waiting",):
        arrive_state = "waiting"
    elif closed < unit_total and not final:
        arrive_state = "active"
    elif halted and closed < unit_total:
        arrive_state = "halted"
    else:
        arrive_state = "done"
    phases = [
        Phase("create", _("Creating messages"), created_done, created_total, create_state),
        Phase("send", _("Sending"), max(sent_done, 0), unit_total, send_state),
        Phase("arrive", _("Waiting for a final status"), closed, unit_total, arrive_state),
    ]

    # Figures: every count with its share of the whole.
    figures = [
        Figure("accepted", _("Accepted by the push channel"), accepted, _rate(accepted, unit_total), "good"),
        Figure("failed", _("Failed"), failed, _rate(failed, unit_total), "bad" if failed else ""),
        Figure("expired", _("Expired"), expired, _rate(expired, unit_total), "bad" if expired else ""),
        Figure("no_device", _("No device"), sum(no_device.values()), _rate(sum(no_device.values()), messages_total)),
        Figure("waiting", _("Waiting for the device"), waiting, _rate(waiting, unit_total)),
        Figure("cancelled", _("Cancelled"), cancelled, _rate(cancelled, unit_total), "muted" if cancelled else ""),
        Figure("in_progress", _("Not sent yet"), not_sent, _rate(not_sent, unit_total)),
        Figure("arrived", _("Arrived"), task.arrived, _rate(task.arrived, task.pushed)),
        Figure("opened", _("Opened"), task.opened, _rate(task.opened, task.arrived)),
    ]

    reasons = _failure_reasons(task, fanout=fanout)
    explanations = _explain(
        task,
        final=final,
        unit_total=unit_total,
        messages_total=messages_total,
        message_states=message_states,
        accepted=accepted,
        no_device=no_device,
        cancelled=cancelled,
        reasons=reasons,
    )
    if final or waiting_task:
        poll = 0 if final else 5
    elif unit_total > 500_000:
        poll = 10
    elif unit_total > 50_000:
        poll = 5
    else:
        poll = 2
    return TaskLive(
        final=final,
        unit=unit,
        total=unit_total,
        poll_seconds=poll,
        phases=phases,
        figures=figures,
        reasons=reasons,
        explanations=explanations,
        chart=accepted_chart(task, fanout=fanout, now=now) if task.started_at else None,
    )


def _failure_reasons(task: PushTask, *, fanout: bool) -> list[tuple[str, int]]:
    if fanout:
        rows = (
            Delivery.objects.filter(message__task_id=task.pk, state=MessageState.FAILED)
            .values_list("gateway_code", "gateway_reason")
            .annotate(n=Count("id"))
            .order_by("-n")[:6]
        )
        texts = [(f"{code} {reason}" if code is not None else reason, n) for code, reason, n in rows]
    else:
        rows = (
            Message.objects.filter(task_id=task.pk, state__in=[MessageState.FAILED, MessageState.EXPIRED])
            .values_list("status_desc")
            .annotate(n=Count("id"))
            .order_by("-n")[:6]
        )
        texts = list(rows)
    merged: dict[str, int] = {}
    for text, n in texts:
        label = reason_label(text) or _("No reason given")
        merged[label] = merged.get(label, 0) + n
    return sorted(merged.items(), key=lambda item: -item[1])


def _explain(
    task: PushTask,
    *,
    final: bool,
    unit_total: int,
    messages_total: int,
    message_states: dict[str, int],
    accepted: int,
    no_device: dict[str, int],
    cancelled: int,
    reasons,
) -> list[str]:
    out = []
    if no_device["expired"]:
        n = no_device["expired"]
        out.append(
            ngettext(
                "%(n)s message expired: no device was bound to its user before it expired.",
                "%(n)s messages expired: no device was bound to these users before they expired.",
                n,
            )
            % {"n": n}
        )
    if no_device["waiting"]:
        n = no_device["waiting"]
        out.append(
            ngettext(
                "%(n)s message waits for a device to be bound to its user; it is sent as soon as one is, "
                "until it expires.",
                "%(n)s messages wait for a device to be bound to their users; each is sent as soon as one is, "
                "until it expires.",
                n,
            )
            % {"n": n}
        )
    if no_device["failed"]:
        out.append(_("No device matched the target when the send started, so nothing was pushed."))
    if task.status in (TaskStatus.STOPPED, TaskStatus.CANCELLED) and cancelled:
        out.append(
            ngettext(
                "%(n)s was cancelled because the send was stopped before it went out.",
                "%(n)s were cancelled because the send was stopped before they went out.",
                cancelled,
            )
            % {"n": cancelled}
        )
    if task.status == TaskStatus.FAILED and task.status_reason:
        out.append(_("The send failed: %(reason)s") % {"reason": _(task.status_reason)})
    if final and unit_total and not accepted and not out:
        if reasons:
            out.append(
                _("Nothing was accepted by a push channel. Main reason: %(reason)s.") % {"reason": reasons[0][0]}
            )
        else:
            out.append(_("Nothing was accepted by a push channel."))
    if final and not unit_total and task.status == TaskStatus.FINISHED:
        out.append(_("This send had no target, so no message was created."))
    return out


STEPS = (
    (10, gettext_lazy("10 seconds")),
    (30, gettext_lazy("30 seconds")),
    (60, gettext_lazy("1 minute")),
    (300, gettext_lazy("5 minutes")),
    (900, gettext_lazy("15 minutes")),
    (3600, gettext_lazy("1 hour")),
    (6 * 3600, gettext_lazy("6 hours")),
    (86400, gettext_lazy("1 day")),
)
MAX_BARS = 40
MIN_BARS = 12


def accepted_chart(task: PushTask, *, fanout: bool, now: datetime) -> Chart:
    """Accepted deliveries per step from the start to the end (or now), empty steps included."""
    start = task.started_at
    end = task.finished_at or now
    span = max((end - start).total_seconds(), 1)
    step, step_text = STEPS[-1]
    for seconds, text in STEPS:
        if span / seconds <= MAX_BARS:
            step, step_text = seconds, text
            break
    kind = "second" if step < 60 else ("minute" if step < 3600 else "hour")
    if fanout:
        qs = Delivery.objects.filter(message__task_id=task.pk, accepted_at__isnull=False)
        column = "accepted_at"
    else:
        qs = Message.objects.filter(task_id=task.pk, state=MessageState.ACCEPTED)
        column = "status_changed_at"
    rows = qs.annotate(at=Trunc(column, kind, tzinfo=UTC)).values_list("at").annotate(n=Count("id")).order_by()
    origin = start.replace(microsecond=0)
    origin -= timedelta(seconds=origin.timestamp() % step)
    # At least MIN_BARS steps, so a send of a few seconds is a narrow bar, not a wall.
    count = max(MIN_BARS, math.ceil((end - origin).total_seconds() / step))
    count = min(count, MAX_BARS * 2)
    buckets = [0] * count
    for at, n in rows:
        index = int((at - origin).total_seconds() // step)
        buckets[min(max(index, 0), count - 1)] += n
    peak = max(buckets) or 1
    tz = timezone.get_current_timezone()
    fmt = "%H:%M:%S" if step < 60 else ("%H:%M" if step < 86400 else "%Y-%m-%d")

    def label(i: int) -> str:
        return (origin + timedelta(seconds=step * i)).astimezone(tz).strftime(fmt)

    bars = [Bar(label(i), n, i * 10, max(round(n * 96 / peak), 1 if n else 0)) for i, n in enumerate(buckets)]
    return Chart(
        bars=bars,
        first=label(0),
        last=label(count),
        peak=max(buckets),
        step_text=str(step_text),
        total=sum(buckets),
    )
