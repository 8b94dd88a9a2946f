"""Stored codes (channel, message state) shown to people as labels in their language."""

from __future__ import annotations

from django import template

from campaigns.models import Channel, MessageState

register = template.Library()


@register.filter
def channel_label(code: str | None) -> str:
    """ "huawei" -> "Huawei" / "华为"; unknown codes are shown as they are."""
    if not code:
        return ""
    return str(dict(Channel.choices).get(code, code))


@register.filter
def state_label(code: str | None) -> str:
    if not code:
        return ""
    return str(dict(MessageState.choices).get(code, code))
