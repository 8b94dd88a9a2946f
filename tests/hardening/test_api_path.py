"""Signed API calls (/api/v1/) take the short way past the console's middleware
(console.middleware.SignedApiMiddleware), and their hot statements run prepared on PostgreSQL
(console.rowsql.prepared_cursor): what they keep and what they leave."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection

from campaigns.models import PushTask
from tests.campaigns import send_fixtures

pytestmark = pytest.mark.django_db

api = send_fixtures.api  # a server-API client with the Push API on

PUSH = {"taskName": "path", "deliveryType": 1, "targetMsgkey": {"dev-1": "m-1"}, "title": "Hi", "body": "There"}


def test_an_api_answer_carries_the_headers_of_every_answer_and_touches_no_session(api, app, client, marketer):
    client.force_login(marketer)  # a console session in the same browser changes nothing for the API
    response = api.post("/api/v1/push/simple", PUSH)
    assert response.json()["resultCode"] == 100
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware, before the short way
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"] and "Cookie" not in response["Vary"]
    assert not response.cookies
    assert response["Content-Length"] == str(len(response.content))
    task = PushTask.objects.get(app=app)
    assert task.created_by is None and task.api_caller == f"api:{app.app_key}"


def test_an_api_answer_is_in_the_language_the_caller_accepts(api, client):
    path = "/api/v1/templates/create"
    body = json.dumps({"templateName": "welcome", "title": "", "content": "Hello"}).encode()

    def create(**language):
        headers = api.headers("POST", path, body)
        return client.post(path, data=body, content_type="application/json", **headers, **language).json()

    english = create()
    chinese = create(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert english["resultCode"] == chinese["resultCode"] != 100
    assert english["detail"] != chinese["detail"] and re.search(r"[\u4e00-\u9fff]", chinese["detail"])
    assert not re.search(r"[\u4e00-\u9fff]", english["detail"])


def test_an_unknown_api_path_still_answers_json(client):
    response = client.post("/api/v1/no/such/call", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["resultCode"] == 3028


def prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_send_statement_runs_prepared_unless_switched_off(api, app, settings):
    assert api.post("/api/v1/push/simple", PUSH).json()["resultCode"] == 100
    assert any("campaigns_pushtask" in s and "$1" in s for s in prepared())
    connection.connection.execute("DEALLOCATE ALL")
    connection.connection._prepared.clear()
    settings.DB_PREPARED_STATEMENTS = False  # for a pooler in transaction mode
    assert api.post("/api/v1/push/simple", {**PUSH, "targetMsgkey": {"dev-2": "m-2"}}).json()["resultCode"] == 100
    assert not any("campaigns_pushtask" in s for s in prepared())
    assert PushTask.objects.filter(app=app).count() == 2
