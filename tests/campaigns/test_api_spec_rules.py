"""The native API follows the SPEC: appId names the caller, pushAction 0/1, taskName required,
`content` is the text field, unknown fields are named, unknown paths answer JSON."""

from __future__ import annotations

import pytest

from campaigns.models import Message, PushTask
from tests.campaigns import send_fixtures as sf

api, template = sf.api, sf.template

pytestmark = pytest.mark.django_db


def simple(**over):
    body = {"taskName": "rules", "deliveryType": 1, "targetMsgkey": {"d1": "r-1"}, "title": "Hello", "content": "World"}
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def refused(response, code, *words):
    data = response.json()
    assert data["resultCode"] == code, data
    assert all(w in data.get("detail", "") for w in words), data
    assert PushTask.objects.count() == 0 and Message.objects.count() == 0


def test_content_is_the_text_field_and_body_is_still_accepted(api):
    data = api.post("/api/v1/push/simple", simple()).json()
    assert data["resultCode"] == 100
    assert Message.objects.get(customer_msg_id="r-1").body == "World"
    data = api.post("/api/v1/push/simple", simple(content=None, body="Old", targetMsgkey={"d1": "r-2"})).json()
    assert data["resultCode"] == 100 and Message.objects.get(customer_msg_id="r-2").body == "Old"


def test_content_and_body_together_are_refused(api):
    refused(api.post("/api/v1/push/simple", simple(body="Other")), 3028, "content or body")


def test_a_misspelt_field_is_named_instead_of_dropped(api):
    refused(api.post("/api/v1/push/simple", simple(content=None, bdoy="World")), 3028, "unknown field", "bdoy")


def test_app_id_must_name_the_calling_app(api, app, other_app):
    refused(api.post("/api/v1/push/simple", simple(appId=other_app.app_key)), 3007)
    assert api.post("/api/v1/push/simple", simple(appId=app.app_key)).json()["resultCode"] == 100


@pytest.mark.parametrize("action", [9, -1, "x"])
def test_push_action_outside_0_and_1_is_refused(api, action):
    refused(api.post("/api/v1/push/simple", simple(pushAction=action)), 3028)


@pytest.mark.parametrize("path", ["simple", "template", "multiple", "broadcast"])
@pytest.mark.parametrize("name", [None, "", "   "])
def test_task_name_is_required(api, template, path, name):
    bodies = {
        "simple": simple(),
        "template": {"deliveryType": 3, "targetMsgkey": {"u1": "t-1"}, "templateName": "promo"},
        "multiple": {"deliveryType": 1, "templateName": "promo", "targetMsg": [{"target": "d", "msgKey": "k"}]},
        "broadcast": {"deliveryType": 1, "templateName": "promo"},
    }
    body = {k: v for k, v in bodies[path].items() if k != "taskName"}
    if name is not None:
        body["taskName"] = name
    refused(api.post(f"/api/v1/push/{path}", body), 3019, "taskName")


def test_broadcast_push_status_1_with_every_unbind_period(api, app, template):
    for period, internal in ((1, 2), (2, 3), (3, 4), (4, 5)):
        data = api.post(
            "/api/v1/push/broadcast",
            {
                "taskName": "b",
                "deliveryType": 2,
                "templateName": "promo",
                "templateKeyValue": {"name": "A", "code": "B"},
                "pushStatus": 1,
                "unBindPeriod": period,
            },
        ).json()
        assert data["resultCode"] == 100, data
        assert PushTask.objects.get(pk=data["pushResult"]["taskId"]).params["unbind_period"] == internal
    default = api.post(
        "/api/v1/push/broadcast",
        {"taskName": "b", "deliveryType": 2, "templateName": "promo", "templateKeyValue": {"name": "A", "code": "B"}},
    ).json()
    assert PushTask.objects.get(pk=default["pushResult"]["taskId"]).params["unbind_period"] == 1


def test_unknown_api_path_answers_json(api, client):
    for response in (client.get("/api/v1/nothing/here"), api.post("/api/v1/push/nothing", {})):
        assert response.status_code == 404 and response["Content-Type"].startswith("application/json")
        assert response.json()["resultCode"] == 3028 and "no API endpoint" in response.json()["detail"]


def test_a_missing_signature_is_unauthenticated(client):
    response = client.post("/api/v1/push/simple", data=b"{}", content_type="application/json")
    assert (response.status_code, response.json()["resultCode"]) == (401, -1)


def test_the_openapi_document_covers_every_endpoint_with_its_real_refusals(client):
    from django.urls import URLPattern, URLResolver

    from console import api_urls

    def walk(patterns, prefix="/api/v1/"):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and entry.name not in ("api-openapi", "api-not-found"):
                yield prefix + str(entry.pattern)

    doc = client.get("/api/v1/openapi.json").json()
    assert sorted(walk(api_urls.urlpatterns)) == sorted(doc["paths"])
    assert set(doc["components"]["securitySchemes"]) == {"serverSignature", "clientSignature"}
    for path, methods in doc["paths"].items():
        op = methods["post"]
        scheme = "clientSignature" if "/client/" in path else "serverSignature"
        assert op["security"] == [{scheme: []}], path
        for code in ("200", "401", "404", "413", "429"):
            assert code in op["responses"], (path, code)
        assert "Retry-After" in op["responses"]["429"]["headers"], path
        assert "application/json" in op["responses"]["413"]["content"], path
