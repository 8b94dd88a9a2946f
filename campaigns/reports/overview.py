"""The activity block of an app's overview: the last 7 days pushed / arrived / opened with the
funnel per channel, the recent sends, and for an app that never sent the steps to a first push.

Reads the usage rollups (a week of hour rows), the five newest tasks and three existence checks:
bounded whatever the volume.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from campaigns.models import Device, PushTask
from console.health import credential_health
from console.models import App, Perm
from console.overview import Panel

from . import selectors
from .live import FINAL_TASK_STATES

DAYS = 7


def _rate(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "–"


def activity_panel(request: HttpRequest, app: App) -> Panel:
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    start = datetime.combine(today - timedelta(days=DAYS - 1), time.min, tz)
    end = datetime.combine(today + timedelta(days=1), time.min, tz)
    rows = selectors.usage_series(app=app, start=start, end=end, granularity="day", tz=tz)
    days = selectors.fill_buckets(rows, start=start, end=end, granularity="day", tz=tz)
    pushed = sum(r.pushed for r in rows)
    arrived = sum(r.arrived for r in rows)
    opened = sum(r.opened for r in rows)
    recent = list(PushTask.objects.filter(app=app).select_related("created_by").order_by("-created_at", "-id")[:5])
    for task in recent:
        task.final = task.status in FINAL_TASK_STATES
    failed = PushTask.objects.filter(app=app, created_at__gte=start).aggregate(n=Sum("failed"))["n"] or 0
    peak = max([max(r.pushed, r.arrived, r.opened) for r in days] or [0]) or 1
    chart = [
        {
            "label": r.bucket.astimezone(tz).strftime("%m-%d"),
            "x": i * 40,
            "bars": [
                {"kind": kind, "value": value, "height": round(value * 96 / peak), "x": i * 40 + 4 + j * 11}
                for j, (kind, value) in enumerate((("pushed", r.pushed), ("arrived", r.arrived), ("opened", r.opened)))
            ],
        }
        for i, r in enumerate(days)
    ]
    for group in chart:
        for bar in group["bars"]:
            bar["y"] = 100 - bar["height"]
    funnel = [
        {
            "channel": channel,
            "pushed": row.pushed,
            "arrived": row.arrived,
            "opened": row.opened,
            "arrived_rate": _rate(row.arrived, row.pushed),
            "opened_rate": _rate(row.opened, row.arrived),
        }
        for channel, row in selectors.usage_funnel(app=app, start=start, end=end, granularity="day")
    ]
    perms = getattr(request, "app_perms", frozenset())
    context = {
        "app": app,
        "pushed": pushed,
        "arrived": arrived,
        "opened": opened,
        "failed": failed,
        "arrived_rate": _rate(arrived, pushed),
        "opened_rate": _rate(opened, arrived),
        "chart": chart,
        "chart_width": len(chart) * 40,
        "funnel": funnel,
        "recent": recent,
        "can_send": Perm.SEND in perms,
        "can_configure": Perm.CONFIGURE in perms,
    }
    if not recent:
        context["steps"] = {
            "channel": app.sandbox or bool(credential_health(app=app)),
            "device": Device.objects.filter(app=app).exists(),
        }
    return Panel(template="campaigns/reports/_overview_activity.html", context=context, order=10)
