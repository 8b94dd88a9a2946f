"""The viewer's time zone as form labels name it."""

from __future__ import annotations

from django import template

from console.widgets import zone_label

register = template.Library()


@register.simple_tag
def current_zone_label() -> str:
    """ "Asia/Shanghai, UTC+08:00" for the zone the request runs in."""
    return zone_label()
