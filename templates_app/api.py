"""Server API for templates: create, list, get, delete (POST, RSA-signed, SPEC codes 3036-3042)."""

from __future__ import annotations

from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest
from django.urls import path

from campaigns.codes import ApiCode, PushError
from console.apisign import signed_api
from console.audit import audit_record
from console.models import App

from . import selectors, services
from .forms import TemplateForm
from .models import ClickAction, DisplayStyle, DisplayType, Template

API_ACTOR = "server API"
MAX_PAGE_SIZE = 100

# Which SPEC code answers a rejected field.
FIELD_CODES = {
    "title": ApiCode.TEMPLATE_TITLE_INVALID,
    "body": ApiCode.TEMPLATE_CONTENT_INVALID,
    "description": ApiCode.TEMPLATE_DESC_INFO_INVALID,
    "url": ApiCode.TEMPLATE_URI_INVALID,
}
# API field name for each form field, so `detail` speaks the caller's language.
API_NAMES = {
    "name": "templateName",
    "description": "templateDesc",
    "title": "title",
    "body": "content",
    "url": "uri",
    "activity": "activity",
    "display_type": "displayType",
    "display_style": "displayStyle",
    "click_action": "pushAction",
    "icon_url": "iconUrl",
    "image_url": "imageUrl",
}
PUSH_ACTIONS = {0: ClickAction.OPEN_URL, 1: ClickAction.OPEN_APP, "0": ClickAction.OPEN_URL, "1": ClickAction.OPEN_APP}


def _str(data: dict, key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise PushError(ApiCode.INVALID_PARAM, f"{key} must be a string", field=key)
    return str(value)


def _form_data(data: dict) -> dict:
    push_action = data.get("pushAction", 1)
    # A list or object is unhashable and true/false equal 1/0: refuse them as clearly as a wrong number.
    if not isinstance(push_action, str | int) or isinstance(push_action, bool) or push_action not in PUSH_ACTIONS:
        raise PushError(ApiCode.INVALID_PARAM, "pushAction must be 0 (web URL) or 1 (activity)", field="pushAction")
    return {
        "name": _str(data, "templateName").strip(),
        "description": _str(data, "templateDesc"),
        "title": _str(data, "title"),
        "body": _str(data, "content"),
        "url": _str(data, "uri"),
        "activity": _str(data, "activity"),
        "display_type": _str(data, "displayType") or DisplayType.NOTIFICATION,
        "display_style": _str(data, "displayStyle") or DisplayStyle.DEFAULT,
        "click_action": PUSH_ACTIONS[push_action],
        "icon_url": _str(data, "iconUrl"),
        "image_url": _str(data, "imageUrl"),
        "image_profile": "default",
    }


def _raise_for_form(form: TemplateForm) -> None:
    errors = form.errors.as_data()
    if "name" in errors:
        codes = {e.code for e in errors["name"]}
        if not form.data.get("name"):
            code = ApiCode.TEMPLATE_NAME_NULL
        elif "exists" in codes:
            code = ApiCode.TEMPLATE_ALREADY_EXIST
        else:
            code = ApiCode.TEMPLATE_NAME_INVALID
        raise PushError(code, f"templateName: {' '.join(form.errors['name'])}", field="templateName")
    for field, code in FIELD_CODES.items():
        if field in errors:
            raise PushError(code, f"{API_NAMES[field]}: {' '.join(form.errors[field])}", field=API_NAMES[field])
    field = next(iter(errors))
    name = API_NAMES.get(field, field)
    raise PushError(ApiCode.INVALID_PARAM, f"{name}: {' '.join(form.errors[field])}", field=name)


def _get(app: App, data: dict) -> Template:
    name = _str(data, "templateName").strip()
    if not name:
        raise PushError(ApiCode.TEMPLATE_NAME_NULL, "templateName is required", field="templateName")
    template = selectors.template_get_by_name(app=app, name=name)
    if template is None:
        raise PushError(ApiCode.TEMPLATE_NOT_EXIST, f"no template named {name}", field="templateName")
    return template


def _describe(template: Template) -> dict:
    version = template.current_version
    return {
        "templateName": template.name,
        "templateDesc": version.description,
        "title": version.title,
        "content": version.body,
        "displayType": version.display_type,
        "displayStyle": version.display_style,
        "pushAction": 0 if version.click_action == ClickAction.OPEN_URL else 1,
        "uri": version.url,
        "activity": version.activity,
        "iconUrl": version.icon_url,
        "imageUrl": version.image_url,
        "version": version.number,
        "createdAt": template.created_at.isoformat(),
        "updatedAt": version.created_at.isoformat(),
    }


def _audit(request: HttpRequest, app: App, action: str, target: str = "", **summary) -> None:
    audit_record(action=action, actor_label=API_ACTOR, app=app, target=target, summary=summary, request=request)


@signed_api("server")
def template_create(request: HttpRequest, *, app: App, data: dict) -> dict:
    form = TemplateForm(_form_data(data), app=app)
    if not form.is_valid():
        _raise_for_form(form)
    template = services.template_create(
        app=app, actor=None, actor_label=API_ACTOR, request=request, **form.cleaned_data
    )
    return {"template": _describe(template)}


@signed_api("server")
def template_list(request: HttpRequest, *, app: App, data: dict) -> dict:
    try:
        page_no = int(data.get("page", 1))
        page_size = int(data.get("pageSize", 20))
    except (TypeError, ValueError):
        raise PushError(ApiCode.INVALID_PARAM, "page and pageSize must be integers") from None
    if page_no < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise PushError(ApiCode.INVALID_PARAM, f"page must be >= 1 and pageSize 1-{MAX_PAGE_SIZE}")
    paginator = Paginator(selectors.template_list(app=app, query=_str(data, "keyword")), page_size)
    try:
        items = list(paginator.page(page_no).object_list)
    except EmptyPage:
        items = []
    _audit(request, app, "api.template.list", page=page_no, pageSize=page_size)
    return {
        "total": paginator.count,
        "page": page_no,
        "pageSize": page_size,
        "templates": [_describe(t) for t in items],
    }


@signed_api("server")
def template_get(request: HttpRequest, *, app: App, data: dict) -> dict:
    template = _get(app, data)
    _audit(request, app, "api.template.get", target=f"template {template.name}")
    return {"template": _describe(template)}


@signed_api("server")
def template_delete(request: HttpRequest, *, app: App, data: dict) -> dict:
    template = _get(app, data)
    try:
        services.template_delete(template=template, actor=None, actor_label=API_ACTOR, request=request)
    except services.TemplateInUse as refused:
        raise PushError(
            ApiCode.INVALID_PARAM,
            "template is still used by sends that have not finished: " + ", ".join(t.name for t in refused.tasks),
            field="templateName",
            details={"tasks": [t.pk for t in refused.tasks]},
        ) from None
    return {"templateName": template.name}


urlpatterns = [
    path("templates/create", template_create, name="api-template-create"),
    path("templates/list", template_list, name="api-template-list"),
    path("templates/get", template_get, name="api-template-get"),
    path("templates/delete", template_delete, name="api-template-delete"),
]
