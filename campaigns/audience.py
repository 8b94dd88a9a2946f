"""Who a send reaches: target ids, accounts, aliases, tag expressions or everyone -> devices.

Used by the send forms (audience size before submit) and by the fan-out (resolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from console.models import App

from .codes import ApiCode, PushError
from .models import DEVICE_TARGETS, Device, Platform, TargetType

# unBindPeriod (SPEC "Broadcast push"): iOS logged-out users within N days, or ever.
UNBIND_PERIOD_DAYS = {1: 0, 2: 7, 3: 15, 4: 60}
UNBIND_EVER = 5


def tag_q(expression) -> Q:
    """A tag expression ({"and": [...]}, {"or": [...]}, {"not": ...} or a tag name) as a Q."""
    if isinstance(expression, str):
        return Q(pk__in=Device.tags.through.objects.filter(tag__name=expression).values("device_id"))
    if isinstance(expression, dict) and len(expression) == 1:
        ((op, arg),) = expression.items()
        if op in ("and", "or") and isinstance(arg, list) and arg:
            parts = [tag_q(item) for item in arg]
            combined = parts[0]
            for part in parts[1:]:
                combined = (combined & part) if op == "and" else (combined | part)
            return combined
        if op == "not":
            return ~tag_q(arg)
        if op == "tag" and isinstance(arg, str):
            return tag_q(arg)
    raise PushError(ApiCode.INVALID_PARAM, "a tag expression is a tag name or {and|or: [...]} / {not: ...}")


def devices_for(
    *,
    app: App,
    target_type: str,
    target_ids: Sequence[str] = (),
    platform: str = "",
    tag_expression=None,
    unbind_period: int | None = None,
    now: datetime | None = None,
) -> QuerySet[Device]:
    """The live devices a target reaches (dead tokens are still returned: the fan-out counts them)."""
    qs = Device.objects.filter(app=app)
    if target_type == TargetType.USER:
        qs = qs.filter(user_bindings__user_id__in=list(target_ids))
    elif target_type in DEVICE_TARGETS:
        qs = qs.filter(device_id__in=list(target_ids))
        if target_type == TargetType.ANDROID_DEVICE:
            platform = Platform.ANDROID
        elif target_type == TargetType.IOS_DEVICE:
            platform = Platform.IOS
    elif target_type == TargetType.ACCOUNT:
        qs = qs.filter(account__in=list(target_ids))
    elif target_type == TargetType.ALIAS:
        qs = qs.filter(aliases__alias__in=list(target_ids))
    elif target_type == TargetType.TAG:
        qs = qs.filter(tag_q(tag_expression))
    elif target_type == TargetType.ALL:
        if unbind_period is None or unbind_period == 1:
            qs = qs.filter(logged_in=True)
        elif unbind_period != UNBIND_EVER:
            days = UNBIND_PERIOD_DAYS.get(unbind_period)
            if days is None:
                raise PushError(ApiCode.BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID, "unBindPeriod is 1 to 5")
            since = (now or timezone.now()) - timedelta(days=days)
            qs = qs.filter(Q(logged_in=True) | Q(logged_out_at__gte=since))
    else:
        raise PushError(ApiCode.DELIVERY_TYPE_NOT_SUPPORTED, f"unknown target type {target_type}")
    if platform:
        qs = qs.filter(platform=platform)
    return qs.distinct()


def audience_size(**kwargs) -> int:
    # DISTINCT over the ids only: over whole rows it sorts every column of every device.
    return devices_for(**kwargs).values("pk").count()
