"""Stored structures shown to people: audit details as JSON, not as Python reprs."""

from __future__ import annotations

import json

from django import template

register = template.Library()


def as_json(value, *, indent: int | None = None) -> str:
    """{'filters': {}} -> {"filters": {}}; non-Latin text kept as written, keys in order."""
    if value in (None, "", {}, []):
        return "" if value in (None, "") else json.dumps(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=indent, default=str)


@register.filter(name="pretty_json")
def pretty_json(value) -> str:
    return as_json(value, indent=2)
