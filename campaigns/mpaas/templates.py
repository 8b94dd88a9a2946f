"""Template actions of 2020-10-28: CreateTemplate, GetTemplate, ListTemplatePage and DeleteTemplate,
with the native template API's validation and codes (3036-3042)."""

from __future__ import annotations

import json

from django.core.paginator import EmptyPage, Paginator

from console.acs.door import Call
from console.apicodes import ApiCode, PushError
from console.models import Perm
from templates_app import api as native_templates
from templates_app import selectors, services
from templates_app.forms import TemplateForm
from templates_app.models import ClickAction, DisplayStyle, Template
from templates_app.rendering import placeholders

from .common import TEMPLATE_SHAPE, app_of, as_int, check_fields, mpaas_action, ok

# mPaaS PushStyle: 0 default, 1 big text, 2 rich (icon and image).
PUSH_STYLES = {0: DisplayStyle.DEFAULT, 1: DisplayStyle.BIG_TEXT, 2: DisplayStyle.RICH}
STYLE_NUMBERS = {v: k for k, v in PUSH_STYLES.items()}


def _variables(template_fields: dict, given: str) -> None:
    """Variables, when given, must be the placeholders the texts use (JSON list or comma-separated)."""
    if not given:
        return
    try:
        names = json.loads(given)
    except json.JSONDecodeError:
        names = [part.strip() for part in given.split(",") if part.strip()]
    if not isinstance(names, list):
        raise PushError(ApiCode.INVALID_PARAM, "Variables is a list of placeholder names")
    used = placeholders(template_fields["title"], template_fields["body"], template_fields["url"])
    if sorted(set(map(str, names))) != sorted(set(used)):
        raise PushError(
            ApiCode.INVALID_PARAM, "Variables must name exactly the #placeholders# of Title, Content and Uri"
        )


@mpaas_action("CreateTemplate", TEMPLATE_SHAPE)
def create_template(call: Call) -> dict:
    app = app_of(call, Perm.EDIT_TEMPLATES)
    check_fields(
        call,
        used=["TemplateName", "Title", "Content", "DescInfo", "JumpAction", "Uri", "PushStyle", "Variables"],
        refused=["ShowStyle", "IconUrls", "ImageUrls"],
    )
    style = as_int(call, "PushStyle", 0)
    if style not in PUSH_STYLES:
        raise PushError(ApiCode.INVALID_PARAM, "PushStyle is 0 (default), 1 (big text) or 2 (rich)")
    data = {
        "templateName": call.get("TemplateName") or "",
        "templateDesc": call.get("DescInfo") or "",
        "title": call.get("Title") or "",
        "content": call.get("Content") or "",
        "pushAction": as_int(call, "JumpAction", 1),
        "uri": call.get("Uri") or "",
        "displayStyle": PUSH_STYLES[style],
    }
    fields = native_templates._form_data(data)
    _variables(fields, call.get("Variables") or "")
    form = TemplateForm(fields, app=app)
    if not form.is_valid():
        native_templates._raise_for_form(form)
    template = services.template_create(
        app=app, actor=call.user, actor_label=call.actor_label, request=call.request, **form.cleaned_data
    )
    return ok(TEMPLATE_SHAPE, Data=str(template.pk))


def _template(app, call: Call) -> Template:
    template_id, name = call.get("TemplateId") or "", call.get("TemplateName") or ""
    if not template_id and not name:
        raise PushError(ApiCode.TEMPLATE_NAME_NULL, "TemplateId or TemplateName is required")
    qs = Template.objects.live().filter(app=app).select_related("current_version")
    if template_id:
        qs = qs.filter(pk=int(template_id) if template_id.isdigit() else -1)
    if name:
        qs = qs.filter(name=name)
    template = qs.first()
    if template is None or template.current_version is None:
        raise PushError(ApiCode.TEMPLATE_NOT_EXIST, "no such template")
    return template


def _describe(template: Template) -> dict:
    v = template.current_version
    return {
        "Id": str(template.pk),
        "Name": template.name,
        "Title": v.title,
        "Content": v.body,
        "DescInfo": v.description,
        "Action": "0" if v.click_action == ClickAction.OPEN_URL else "1",
        "Uri": v.url if v.click_action == ClickAction.OPEN_URL else v.activity,
        "PushStyle": str(STYLE_NUMBERS.get(v.display_style, 0)),
        "ShowStyle": "0",
        "IconUrls": v.icon_url,
        "ImageUrls": v.image_url,
        "Variables": ",".join(placeholders(v.title, v.body, v.url)),
        "GmtCreate": template.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "GmtModified": v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
    }


@mpaas_action("GetTemplate", TEMPLATE_SHAPE)
def get_template(call: Call) -> dict:
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=["TemplateId", "TemplateName"])
    return ok(TEMPLATE_SHAPE, Data=_describe(_template(app, call)))


@mpaas_action("ListTemplatePage", TEMPLATE_SHAPE)
def list_template_page(call: Call) -> dict:
    app = app_of(call, Perm.VIEW)
    check_fields(call, used=["CurrentPage", "PageSize"])
    page, size = as_int(call, "CurrentPage", 1), as_int(call, "PageSize", 10)
    if page < 1 or not 1 <= size <= native_templates.MAX_PAGE_SIZE:
        raise PushError(
            ApiCode.INVALID_PARAM, f"CurrentPage is at least 1 and PageSize 1 to {native_templates.MAX_PAGE_SIZE}"
        )
    paginator = Paginator(selectors.template_list(app=app), size)
    try:
        items = list(paginator.page(page).object_list)
    except EmptyPage:
        items = []
    return ok(
        TEMPLATE_SHAPE,
        Data=[_describe(t) for t in items],
        CurrentPage=page,
        PageSize=size,
        TotalSize=paginator.count,
    )


@mpaas_action("DeleteTemplate", TEMPLATE_SHAPE)
def delete_template(call: Call) -> dict:
    app = app_of(call, Perm.EDIT_TEMPLATES)
    check_fields(call, used=["TemplateId", "TemplateName"])
    template = _template(app, call)
    try:
        services.template_delete(template=template, actor=call.user, actor_label=call.actor_label, request=call.request)
    except services.TemplateInUse as refused:
        raise PushError(
            ApiCode.INVALID_PARAM,
            "template is still used by sends that have not finished: " + ", ".join(t.name for t in refused.tasks),
        ) from None
    return ok(TEMPLATE_SHAPE)
