"""Template writes: create, edit (a new version each time) and soft delete, each audited."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from campaigns.codes import ApiCode, PushError
from campaigns.models import PushTask, TaskStatus
from console.audit import audit_record
from console.models import App

from .images import CheckedImage
from .models import Template, TemplateVersion

# A send in one of these states will still read its template version.
PENDING_TASK_STATUSES = (
    TaskStatus.VALIDATING,
    TaskStatus.AWAITING_APPROVAL,
    TaskStatus.SCHEDULED,
    TaskStatus.QUEUED,
    TaskStatus.INGESTING,
    TaskStatus.RUNNING,
)

VERSION_FIELDS = (
    "description",
    "display_type",
    "display_style",
    "title",
    "body",
    "click_action",
    "url",
    "activity",
    "icon_url",
    "image_url",
    "image_profile",
)


class TemplateInUse(Exception):
    """Delete refused: sends that have not finished still use a version of the template."""

    def __init__(self, tasks: list[PushTask]):
        self.tasks = tasks
        super().__init__("template is used by pending sends: " + ", ".join(t.name for t in tasks))


def _store(field, image: CheckedImage) -> None:
    # Stored under a fresh name with the extension Pillow found, never the uploaded name.
    field.save(f"{uuid.uuid4().hex}.{image.extension}", ContentFile(image.data), save=False)


def _new_version(
    *,
    template: Template,
    actor,
    fields: dict[str, Any],
    icon: CheckedImage | None,
    image: CheckedImage | None,
    previous: TemplateVersion | None,
) -> TemplateVersion:
    number = (template.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = TemplateVersion(
        template=template, number=number, created_by=actor, **{k: fields.get(k, "") for k in VERSION_FIELDS}
    )
    if not version.image_profile:
        version.image_profile = "default"
    if icon is not None:
        _store(version.icon, icon)
    elif previous is not None and not fields.get("icon_url") and not fields.get("remove_icon"):
        version.icon = previous.icon.name
    if image is not None:
        _store(version.image, image)
    elif previous is not None and not fields.get("image_url") and not fields.get("remove_image"):
        version.image = previous.image.name
    version.save()
    template.current_version = version
    template.save(update_fields=["current_version", "name"])
    return version


def _summary(version: TemplateVersion) -> dict[str, Any]:
    return {
        "version": version.number,
        "title": version.title,
        "body": version.body,
        "icon": version.icon.name or version.icon_url,
        "image": version.image.name or version.image_url,
    }


@transaction.atomic
def template_create(
    *,
    app: App,
    actor,
    name: str,
    icon: CheckedImage | None = None,
    image: CheckedImage | None = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
    **fields: Any,
) -> Template:
    """Create a template and its version 1 (PushError 3036 when the name is taken meanwhile)."""
    try:
        with transaction.atomic():
            template = Template.objects.create(app=app, name=name, created_by=actor)
    except IntegrityError:
        # Two saves of the same name at once: the unique constraint decides.
        raise PushError(ApiCode.TEMPLATE_ALREADY_EXIST, f"a template named {name} already exists") from None
    version = _new_version(template=template, actor=actor, fields=fields, icon=icon, image=image, previous=None)
    audit_record(
        action="template.create",
        actor=actor,
        actor_label=actor_label,
        app=app,
        target=f"template {name}",
        summary=_summary(version),
        request=request,
    )
    return template


@transaction.atomic
def template_update(
    *,
    template: Template,
    actor,
    name: str,
    icon: CheckedImage | None = None,
    image: CheckedImage | None = None,
    request: HttpRequest | None = None,
    **fields: Any,
) -> TemplateVersion:
    """Save an edit as a new version; older versions stay as they were."""
    template = Template.objects.select_for_update().get(pk=template.pk)
    previous = template.current_version
    old_name = template.name
    template.name = name
    version = _new_version(template=template, actor=actor, fields=fields, icon=icon, image=image, previous=previous)
    summary = _summary(version)
    if old_name != name:
        summary["renamed_from"] = old_name
    audit_record(
        action="template.edit",
        actor=actor,
        app=template.app,
        target=f"template {name}",
        summary=summary,
        request=request,
    )
    return version


def pending_tasks(template: Template) -> list[PushTask]:
    return list(
        PushTask.objects.filter(template_version__template=template, status__in=PENDING_TASK_STATUSES).order_by(
            "created_at"
        )
    )


@transaction.atomic
def template_delete(
    *, template: Template, actor, request: HttpRequest | None = None, actor_label: str = ""
) -> Template:
    """Soft delete; refused (TemplateInUse) while a scheduled, queued or running send uses it."""
    template = Template.objects.select_for_update().get(pk=template.pk)
    tasks = pending_tasks(template)
    if tasks:
        raise TemplateInUse(tasks)
    template.deleted_at = timezone.now()
    template.save(update_fields=["deleted_at"])
    audit_record(
        action="template.delete",
        actor=actor,
        actor_label=actor_label,
        app=template.app,
        target=f"template {template.name}",
        summary={"versions": template.versions.count()},
        request=request,
    )
    return template
