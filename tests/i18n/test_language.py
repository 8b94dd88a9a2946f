"""The console speaks the user's saved language, else the browser's; the top-bar switch saves the choice."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from console.models import UserProfile

pytestmark = pytest.mark.django_db

HOME = "/"


def _lang(response) -> str:
    return response["Content-Language"]


def _signed_in(user, **headers) -> Client:
    """A new browser session with its own Accept-Language."""
    c = Client(**headers)
    c.force_login(user)
    return c


def test_no_saved_language_follows_the_browser(app, marketer):
    UserProfile.objects.filter(user=marketer).update(language="")
    chinese = _signed_in(marketer, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
    response = chinese.get(HOME, follow=True)
    assert _lang(response) == "zh-hans"
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html and "消息列表" in html
    english = _signed_in(marketer, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert _lang(english.get(HOME, follow=True)) == "en"


def test_anonymous_sign_in_page_follows_the_browser(client):
    response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert _lang(response) == "zh-hans"
    assert "用户名" in response.content.decode()


def test_saved_choice_wins_over_the_browser(app, marketer):
    UserProfile.objects.filter(user=marketer).update(language="en")
    c = _signed_in(marketer, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert _lang(c.get(HOME, follow=True)) == "en"
    UserProfile.objects.filter(user=marketer).update(language="zh-hans")
    c = _signed_in(marketer, HTTP_ACCEPT_LANGUAGE="en-US")
    assert _lang(c.get(HOME, follow=True)) == "zh-hans"


def test_switch_in_the_top_bar_is_remembered_for_the_user(app, marketer):
    UserProfile.objects.filter(user=marketer).update(language="")
    c = _signed_in(marketer, HTTP_ACCEPT_LANGUAGE="en-US")
    page = c.get(reverse("campaigns:message-list", kwargs={"app_key": app.app_key}))
    html = page.content.decode()
    assert 'id="lang-select" name="language"' in html and 'data-testid="lang-switch"' in html
    next_url = reverse("campaigns:message-list", kwargs={"app_key": app.app_key})
    response = c.post(reverse("console:set-language"), {"language": "zh-hans", "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    assert UserProfile.objects.get(user=marketer).language == "zh-hans"
    assert _lang(c.get(next_url)) == "zh-hans"
    # Another browser, another session, an English browser: the saved choice still wins.
    elsewhere = _signed_in(marketer, HTTP_ACCEPT_LANGUAGE="en-US")
    assert _lang(elsewhere.get(next_url)) == "zh-hans"
    assert "消息列表" in elsewhere.get(next_url).content.decode()


def test_unknown_language_and_foreign_next_change_nothing(app, marketer):
    UserProfile.objects.filter(user=marketer).update(language="en")
    c = _signed_in(marketer)
    response = c.post(reverse("console:set-language"), {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert UserProfile.objects.get(user=marketer).language == "en"
    assert "django_language" not in response.cookies


def test_api_answers_stay_english_for_a_chinese_user(app, marketer):
    UserProfile.objects.filter(user=marketer).update(language="zh-hans")
    c = _signed_in(marketer, HTTP_ACCEPT_LANGUAGE="zh-CN")
    response = c.post("/api/v1/push/simple", data="{}", content_type="application/json")
    assert "resultMsg" in response.content.decode()
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in response.content.decode())
