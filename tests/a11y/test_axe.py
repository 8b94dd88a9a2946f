"""axe-core (vendored) audits every page a person uses; no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

AXE = (Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js").read_text()


def audit(page) -> list[dict]:
    page.evaluate(AXE)
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def _audit_app_pages(page, app, paths, *, lang: str | None = None) -> dict[str, list]:
    """Open each page of the app (200, and the document's language when given); axe's findings by path."""
    problems = {}
    for path in paths:
        response = page.goto(f"/apps/{app.app_key}/{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        if lang:
            assert page.evaluate("document.documentElement.lang") == lang, path
        found = audit(page)
        if found:
            problems[path] = found
    return problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_passes_axe(browser, live_server, app, channel_admin, superuser, password):
    from tests.test_url_permissions import URLS, _url

    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    page = context.new_page()
    page.goto("/accounts/login/")
    problems = {}
    problems["login"] = audit(page)
    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    audited = 0
    seen = set()
    for name, pattern in URLS.items():
        url = _url(name, pattern, app)
        response = None
        for _attempt in range(3):
            try:
                response = page.goto(url)
                break
            except PlaywrightError as error:
                # A late htmx request of the previous page may still be navigating: go again.
                if "interrupted by another navigation" in str(error):
                    page.wait_for_load_state("networkidle")
                    continue
                break  # POST-only URLs answer 405 with no page
        if response is None or response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        page.wait_for_load_state("networkidle")
        audited += 1
        seen.add(name)
        found = audit(page)
        if found:
            problems[name] = found
    context.close()
    assert audited >= 10
    # Pages behind objects (made by tests/url_kwargs.py) are audited too.
    assert {
        "templates_app:template-detail",
        "campaigns:send-task",
        "campaigns:message-detail",
        "campaigns:message-timeline",
    } <= seen
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chinese_pages_pass_axe_and_declare_their_language(browser, live_server, app, marketer):
    """The same audit in Simplified Chinese, reached through the browser's language alone."""
    from django.conf import settings
    from django.test import Client

    from console.models import UserProfile

    UserProfile.objects.filter(user=marketer).update(language="")
    session = Client()
    session.force_login(marketer)
    context = browser.new_context(base_url=live_server.url, bypass_csp=True, locale="zh-CN")
    cookie = settings.SESSION_COOKIE_NAME
    context.add_cookies([{"name": cookie, "value": session.cookies[cookie].value, "url": live_server.url}])
    page = context.new_page()
    problems = _audit_app_pages(page, app, ("send/", "send/simple/", "messages/", "tasks/", "analysis/", "templates/new/"),
                                lang="zh-hans")  # fmt: skip
    context.close()
    assert not problems, problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_error_states_pass_axe(browser, live_server, app, superuser, password):
    """Forms sent back with their errors, and a checked file with bad lines, audited like first states."""
    from campaigns.models import SendUpload

    partial = SendUpload.objects.create(
        app=app,
        kind="csv",
        original_name="bad.csv",
        size=10,
        bytes_done=10,
        status="partial",
        line_count=3,
        good_count=2,
        bad_count=1,
        errors=[{"line": 2, "reason": "customerMsgId is missing"}],
        preview=[{"line": 1, "target_id": "d1", "customer_msg_id": "c1", "title": "t", "body": "b", "url": ""}],
    )
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    problems = {"login with a wrong password": audit(page)}
    page.get_by_label("Username").fill(superuser.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    base = f"/apps/{app.app_key}"
    for path, button in (
        ("/send/simple/", "Preview"),
        ("/send/template/", "Preview"),
        ("/send/broadcast/", "Preview"),
        ("/send/multiple/", "Upload and check"),
        ("/templates/new/", "Create template"),
    ):
        page.goto(base + path)
        page.get_by_role("button", name=button, exact=True).click()
        page.wait_for_load_state("networkidle")
        assert page.locator(".errorlist, [aria-invalid=true], .errors").count(), path  # the error state is shown
        problems[path] = audit(page)
    page.goto(f"{base}/send/multiple/{partial.pk}/")
    page.get_by_test_id("bad-lines").wait_for()
    problems["file with bad lines"] = audit(page)
    context.close()
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_live_task_page_overview_and_helpers_with_data_pass_axe(browser, live_server, app, channel_admin, locale):
    """The new pages with figures on them (a send mid-way, a week of sends), in both languages."""
    from datetime import timedelta

    from django.conf import settings
    from django.test import Client
    from django.utils import timezone

    from campaigns.rollups import rollup_add
    from console.models import UserProfile
    from tests.campaigns.send_fixtures import make_template
    from tests.factories_campaigns import MessageFactory, PushTaskFactory

    UserProfile.objects.filter(user=channel_admin).update(language="")
    now = timezone.now()
    rollup_add(app_id=app.pk, at=now, channel="apns", platform="ios", pushed=10, arrived=9, opened=2)
    task = PushTaskFactory(app=app, name="Mid-way", push_type="SIMPLE", status="running", total_rows=4,
                           started_at=now - timedelta(minutes=3), pushed=2, succeeded=2)  # fmt: skip
    for state, status in (("accepted", 2), ("accepted", 2), ("waiting", 1), ("queued", 0)):
        MessageFactory(app=app, task=task, state=state, status=status, status_changed_at=now)
    template = make_template(app, "promo")
    session = Client()
    session.force_login(channel_admin)
    context = browser.new_context(base_url=live_server.url, bypass_csp=True, locale=locale)
    cookie = settings.SESSION_COOKIE_NAME
    context.add_cookies([{"name": cookie, "value": session.cookies[cookie].value, "url": live_server.url}])
    page = context.new_page()
    paths = (
        "",
        f"send/tasks/{task.pk}/",
        f"messages/?task={task.pk}",
        "tasks/",
        f"send/multiple/template-help/?template={template.pk}",
        "audit/",
    )
    problems = _audit_app_pages(page, app, paths, lang="zh-hans" if locale == "zh-CN" else None)
    context.close()
    assert not problems, problems
