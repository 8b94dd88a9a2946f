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


@register.filter
def display_type_label(code: str | None) -> str:
    from templates_app.models import DisplayType

    return str(dict(DisplayType.choices).get(code, code or ""))


@register.filter
def display_style_label(code: str | None) -> str:
    from templates_app.models import DisplayStyle

    return str(dict(DisplayStyle.choices).get(code, code or ""))


@register.filter
def click_action_label(code: str | None) -> str:
    from templates_app.models import ClickAction

    return str(dict(ClickAction.choices).get(code, code or ""))


@register.filter
def android_channel_label(code: str | None) -> str:
    """The send form's channel choice ("auto", "selfbuilt") or a stored channel code."""
    from campaigns.sends.forms import CHANNELS

    return str(dict(CHANNELS).get(code or "auto") or channel_label(code))


@register.filter
def reason_label(text: str | None) -> str:
    from campaigns.reports.live import reason_label as label

    return label(text or "")
