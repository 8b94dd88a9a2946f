"""One URL rule (http/https) and one target id rule for every form, API door and file line."""

from __future__ import annotations

import pytest

from campaigns.models import PushTask
from campaigns.sends.csvingest import Template, check_line
from console.validation import http_url_ok, target_id_ok
from tests.campaigns import send_fixtures as sf
from tests.campaigns.test_send_console import simple_data, url

api = sf.api
pytestmark = pytest.mark.django_db

EVIL_URLS = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<b>x</b>",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("bad", EVIL_URLS + [" https://example.com", "https://exa mple.com/"])
def test_the_url_rule(bad):
    assert not http_url_ok(bad)
    assert http_url_ok("https://example.com/p?q=1") and http_url_ok("http://example.com:8080/x")


@pytest.mark.parametrize("bad", ["<script>alert(1)</script>", 'a"b', "a'b", "x" * 129, " dev", "a\x00b", ""])
def test_the_target_id_rule(bad):
    assert not target_id_ok(bad)
    assert target_id_ok("dev-1") and target_id_ok("user@example.com") and target_id_ok("用户 7")


@pytest.mark.parametrize("bad", EVIL_URLS)
def test_the_simple_push_form_refuses_a_javascript_click_url(app, marketer, client_for, bad):
    response = client_for(marketer).post(url(app, "send-simple"), simple_data(click_action="open_url", url=bad))
    assert response.status_code in (200, 400)
    assert "must be an http:// or https:// URL" in response.content.decode()
    assert PushTask.objects.count() == 0


def test_the_simple_push_form_refuses_markup_as_a_user_id(app, marketer, client_for):
    response = client_for(marketer).post(
        url(app, "send-simple"), simple_data(target_type="user", targets="<script>alert(1)</script>")
    )
    assert "a target id has characters that are not allowed" in response.content.decode()
    assert PushTask.objects.count() == 0


def test_the_api_refuses_a_javascript_click_url_and_markup_targets(api):
    body = {"deliveryType": 1, "targetMsgkey": {"dev-1": "m-1"}, "title": "Hi", "body": "There", "taskName": "t"}
    refused = api.post("/api/v1/push/simple", {**body, "pushAction": 0, "uri": "javascript:alert(1)"}).json()
    assert refused["resultCode"] == 3028 and "http:// or https://" in refused["detail"]
    refused = api.post("/api/v1/push/simple", {**body, "targetMsgkey": {"<script>x</script>": "m-2"}}).json()
    assert refused["resultCode"] == 3028 and "target id" in refused["detail"]
    assert PushTask.objects.count() == 0


def test_a_multiple_push_line_cannot_make_a_javascript_url_or_markup_target():
    version = type("V", (), {"title": "Hi #name#", "body": "b", "url": "#link#"})()
    tpl = Template.of(version)
    assert check_line(1, "dev-1,m1,name=A,link=javascript:alert(1)", tpl) == (
        "the click URL is not an http:// or https:// URL"
    )
    assert check_line(2, "<b>x</b>,m2,name=A,link=https://example.com", tpl) == (
        "targetId has characters that are not allowed"
    )
    assert check_line(3, "dev-1,m3,name=A,link=https://example.com/x", tpl).url == "https://example.com/x"


def test_names_and_free_text_refuse_control_characters(api, app, channel_admin, client_for):
    body = {"deliveryType": 1, "targetMsgkey": {"dev-1": "m-1"}, "title": "Hi", "body": "There", "taskName": "t"}
    refused = api.post("/api/v1/push/simple", {**body, "taskName": "a\x1b[2Jb"}).json()
    assert refused["resultCode"] == 3028 and "task name" in refused["detail"]
    refused = api.post("/api/v1/push/simple", {**body, "body": "bell\x07"}).json()
    assert refused["resultCode"] == 3028 and "title or body" in refused["detail"]
    assert api.post("/api/v1/push/simple", {**body, "body": "two\nlines\tand a tab"}).json()["resultCode"] == 100
    response = client_for(channel_admin).post(
        f"/apps/{app.app_key}/templates/new/",
        {
            "name": "ctl",
            "description": "d\x00",
            "display_type": "notification",
            "display_style": "default",
            "title": "T\u202e",
            "body": "b",
            "click_action": "open_app",
        },
    )
    page = response.content.decode()
    assert page.count("Control characters are not allowed here.") == 2
    assert not app.templates.filter(name="ctl").exists()
