"""Server API for templates: create, list, get, delete with codes 3036-3042, signed with RSA."""

from __future__ import annotations

import pytest

from campaigns.models import PushTask, TaskStatus
from console.models import AuditEntry
from templates_app.models import Template
from tests.apiclient import SignedClient, enable_server_api
from tests.templates_app.helpers import make_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, app):
    return SignedClient(client, app, private_pem=enable_server_api(app))


def _create(api, **overrides):
    payload = {
        "templateName": "order_shipped",
        "templateDesc": "Order shipped",
        "title": "Order #order# shipped",
        "content": "Hi #name#, it is on its way",
        "pushAction": 0,
        "uri": "https://shop.test/o/#order#",
    }
    payload.update(overrides)
    return api.post("/api/v1/templates/create", payload)


def test_create_makes_version_one_and_audits(api, app):
    response = _create(api)
    body = response.json()
    assert response.status_code == 200 and body["resultCode"] == 100
    assert body["template"]["templateName"] == "order_shipped" and body["template"]["version"] == 1
    template = Template.objects.get(app=app, name="order_shipped")
    version = template.current_version
    assert (version.title, version.body, version.click_action, version.url) == (
        "Order #order# shipped",
        "Hi #name#, it is on its way",
        "open_url",
        "https://shop.test/o/#order#",
    )
    entry = AuditEntry.objects.get(action="template.create")
    assert entry.actor is None and entry.actor_label == "server API" and entry.app == app


@pytest.mark.parametrize(
    "overrides,code,field",
    [
        ({"templateName": ""}, 3037, "templateName"),
        ({"templateName": "has space"}, 3038, "templateName"),
        ({"templateName": "x" * 201}, 3038, "templateName"),
        ({"content": ""}, 3039, "content"),
        ({"content": "x" * 201}, 3039, "content"),
        ({"title": ""}, 3040, "title"),
        ({"title": "x" * 201}, 3040, "title"),
        ({"templateDesc": ""}, 3041, "templateDesc"),
        ({"uri": ""}, 3042, "uri"),
        ({"uri": "ftp://shop.test/x"}, 3042, "uri"),
        ({"pushAction": 7}, 3028, "pushAction"),
        ({"pushAction": [{"x": None}]}, 3028, "pushAction"),
        ({"pushAction": {"a": 1}}, 3028, "pushAction"),
        ({"pushAction": True}, 3028, "pushAction"),
        ({"displayType": "loud"}, 3028, "displayType"),
        ({"title": ["a"]}, 3028, "title"),
    ],
)
def test_create_refusals_use_the_spec_codes_and_change_nothing(api, overrides, code, field):
    response = _create(api, **overrides)
    body = response.json()
    assert body["resultCode"] == code, body
    assert body["resultMsg"] != "SUCCESS" and field in body["detail"]
    assert not Template.objects.exists()
    assert not AuditEntry.objects.filter(action="template.create").exists()


def test_an_existing_name_gives_3036(api, app):
    make_template(app, name="order_shipped")
    body = _create(api).json()
    assert body["resultCode"] == 3036 and body["resultMsg"] == "TEMPLATE_ALREADY_EXIST"
    assert Template.objects.filter(name="order_shipped").count() == 1


def test_list_is_newest_first_paged_and_searchable(api, app, other_app):
    for i in range(3):
        make_template(app, name=f"t{i}")
    make_template(other_app, name="not_mine")
    body = api.post("/api/v1/templates/list", {"pageSize": 2}).json()
    assert body["resultCode"] == 100 and body["total"] == 3
    assert [t["templateName"] for t in body["templates"]] == ["t2", "t1"]
    page2 = api.post("/api/v1/templates/list", {"pageSize": 2, "page": 2}).json()
    assert [t["templateName"] for t in page2["templates"]] == ["t0"]
    found = api.post("/api/v1/templates/list", {"keyword": "t1"}).json()
    assert [t["templateName"] for t in found["templates"]] == ["t1"]
    assert api.post("/api/v1/templates/list", {"pageSize": 0}).json()["resultCode"] == 3028
    assert AuditEntry.objects.filter(action="api.template.list").count() == 3


def test_get_returns_the_current_version_or_3022(api, app, other_app):
    make_template(app, name="welcome", title="Hi #name#")
    make_template(other_app, name="theirs")
    body = api.post("/api/v1/templates/get", {"templateName": "welcome"}).json()
    assert body["resultCode"] == 100 and body["template"]["title"] == "Hi #name#"
    assert api.post("/api/v1/templates/get", {"templateName": "theirs"}).json()["resultCode"] == 3022
    assert api.post("/api/v1/templates/get", {}).json()["resultCode"] == 3037


def test_delete_is_refused_while_a_send_is_pending_then_soft_deletes(api, app):
    template = make_template(app, name="welcome")
    task = PushTask.objects.create(
        app=app,
        name="api send",
        push_type="TEMPLATE",
        source="api",
        template_version=template.current_version,
        status=TaskStatus.SCHEDULED,
    )
    refused = api.post("/api/v1/templates/delete", {"templateName": "welcome"}).json()
    assert refused["resultCode"] == 3028 and "api send" in refused["detail"]
    template.refresh_from_db()
    assert template.deleted_at is None
    PushTask.objects.filter(pk=task.pk).update(status=TaskStatus.FINISHED)
    body = api.post("/api/v1/templates/delete", {"templateName": "welcome"}).json()
    assert body["resultCode"] == 100
    template.refresh_from_db()
    assert template.deleted_at is not None and template.versions.count() == 1
    assert AuditEntry.objects.get(action="template.delete").actor_label == "server API"
    assert api.post("/api/v1/templates/get", {"templateName": "welcome"}).json()["resultCode"] == 3022


def test_bad_signature_and_switched_off_api_change_nothing(api, app, client):
    bad = api.post("/api/v1/templates/create", {"templateName": "x"}, signature="bm9wZQ")
    assert bad.status_code == 401 and bad.json()["resultCode"] == -1
    unsigned = client.post("/api/v1/templates/list", data=b"{}", content_type="application/json")
    assert (unsigned.status_code, unsigned.json()["resultCode"]) == (401, -1)
    from console.models import KeyConfig

    KeyConfig.objects.filter(app=app).update(api_enabled=False)
    assert _create(api).json()["resultCode"] == 3032
    assert not Template.objects.exists()
    assert api.client.get("/api/v1/templates/list").status_code == 405
