"""Blocks other apps add to an app's overview page. The console imports none of them: an app
registers a function (request, app) -> Panel | None in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest


@dataclass
class Panel:
    template: str
    context: dict = field(default_factory=dict)
    order: int = 50


PANELS: list[Callable] = []


def register(panel: Callable) -> Callable:
    if panel not in PANELS:
        PANELS.append(panel)
    return panel


def panels_for(request: HttpRequest, app) -> list[Panel]:
    found = [p for p in (build(request, app) for build in PANELS) if p is not None]
    return sorted(found, key=lambda p: p.order)
