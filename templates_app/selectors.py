"""Template reads: the list, one template, its history with diffs and the sends of each version."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.http import Http404

from campaigns.models import Message, PushTask
from console.models import App

from .models import Template, TemplateVersion

SENDS_PER_VERSION = 20


def template_list(*, app: App, query: str = "") -> QuerySet[Template]:
    """Live templates of the app, newest first, optionally matching name, description, title or body."""
    templates = Template.objects.live().filter(app=app).select_related("current_version", "created_by")
    query = query.strip()
    if query:
        templates = templates.filter(
            Q(name__icontains=query)
            | Q(current_version__description__icontains=query)
            | Q(current_version__title__icontains=query)
            | Q(current_version__body__icontains=query)
        )
    return templates.order_by("-created_at", "-id")


def template_get(*, app: App, template_id: int) -> Template:
    """A live template of this app, or 404 (other apps' templates do not exist for the caller)."""
    template = (
        Template.objects.live().filter(app=app, pk=template_id).select_related("current_version", "created_by").first()
    )
    if template is None:
        raise Http404
    return template


def template_get_by_name(*, app: App, name: str) -> Template | None:
    return Template.objects.live().filter(app=app, name=name).select_related("current_version").first()


@dataclass
class SendUse:
    task: PushTask
    messages: list[Message]


@dataclass
class VersionEntry:
    version: TemplateVersion
    diff: list[tuple[str, str]] = field(default_factory=list)  # (css kind, line)
    sends: list[SendUse] = field(default_factory=list)


def _diff(old: TemplateVersion, new: TemplateVersion) -> list[tuple[str, str]]:
    lines = difflib.unified_diff(
        old.diff_text().splitlines(),
        new.diff_text().splitlines(),
        fromfile=f"v{old.number}",
        tofile=f"v{new.number}",
        lineterm="",
        n=1,
    )
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    out = []
    for line in lines:
        if line.startswith(("+++", "---")):
            continue
        out.append((kinds.get(line[:1], "same"), line))
    return out


def template_history(*, template: Template) -> list[VersionEntry]:
    """Every version newest first, each with its diff against the one before and the sends that used it."""
    versions = list(template.versions.select_related("created_by").order_by("number"))
    tasks = (
        PushTask.objects.filter(template_version__template=template)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )
    by_version: dict[int, list[SendUse]] = {}
    for task in tasks:
        uses = by_version.setdefault(task.template_version_id, [])
        if len(uses) < SENDS_PER_VERSION:
            uses.append(SendUse(task=task, messages=list(task.messages.order_by("id")[:3])))
    entries = []
    previous = None
    for version in versions:
        entry = VersionEntry(version=version, sends=by_version.get(version.pk, []))
        if previous is not None:
            entry.diff = _diff(previous, version)
        entries.append(entry)
        previous = version
    return list(reversed(entries))
