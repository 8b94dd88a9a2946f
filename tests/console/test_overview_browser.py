"""Headless Chromium: the app overview with and without sends, and what each role's sidebar
and banners offer (only links that role can use). Screenshots go to var/artifacts/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.rollups import rollup_add
from tests.factories_campaigns import PushTaskFactory

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_overview_of_an_app_that_never_sent_shows_the_three_steps(page, login, app, marketer):
    failed = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    login(marketer)
    page.goto(f"/apps/{app.app_key}/")
    # The icon is found (no 404 and console error in a fresh browser).
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(icon).status == 200 and page.request.get("/favicon.ico").status == 200
    steps = page.get_by_test_id("first-steps")
    expect(steps.locator("li")).to_have_count(3)
    expect(steps).to_contain_text("Set up a push channel.")
    # A marketer cannot configure: the step says who does it instead of a link that answers 403.
    expect(steps).to_contain_text("A channel admin of this app does this.")
    expect(steps.get_by_role("link", name="Open Push configuration")).to_have_count(0)
    expect(steps.get_by_role("link", name="Send a simple push")).to_be_visible()
    expect(page.get_by_test_id("stat-pushed")).to_have_text("0")
    expect(page.get_by_test_id("overview-activity")).to_contain_text("Nothing was pushed in the last 7 days.")
    expect(page.get_by_test_id("recent-sends")).to_have_count(0)
    shot(page, "overview-empty.png")
    assert failed == []
    page.get_by_role("link", name="Send a simple push").click()
    expect(page.get_by_role("heading", name="Simple push")).to_be_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_overview_with_a_week_of_sends(page, login, app, channel_admin):
    now = timezone.now()
    rollup_add(
        app_id=app.pk, at=now, channel="apns", platform="ios", push_type="SIMPLE", pushed=40, arrived=40, opened=9
    )
    rollup_add(app_id=app.pk, at=now - timedelta(days=3), channel="huawei", platform="android", pushed=60, arrived=45)
    rollup_add(app_id=app.pk, at=now - timedelta(days=9), channel="huawei", platform="android", pushed=999)  # too old
    running = PushTaskFactory(app=app, name="Autumn promo", push_type="SIMPLE", status="running", failed=3)
    PushTaskFactory(app=app, name="Welcome series", status="finished", created_at=now - timedelta(days=1), pushed=60)
    login(channel_admin)
    page.goto(f"/apps/{app.app_key}/")
    expect(page.get_by_test_id("first-steps")).to_have_count(0)
    expect(page.get_by_test_id("stat-pushed")).to_have_text("100")
    expect(page.get_by_test_id("stat-arrived")).to_have_text("85")
    expect(page.get_by_test_id("stat-opened")).to_have_text("9")
    expect(page.get_by_test_id("stat-failed")).to_have_text("3")
    expect(page.get_by_test_id("overview-activity")).to_contain_text("85.0% of pushed")
    funnel = page.get_by_test_id("channel-funnel").locator("tbody tr")
    expect(funnel).to_have_count(2)
    expect(funnel.nth(0)).to_contain_text("APNs")
    expect(funnel.nth(1)).to_contain_text("Huawei")
    expect(funnel.nth(1)).to_contain_text("75.0%")
    # Seven days, each one a group of bars, empty days included.
    expect(page.get_by_test_id("week-chart").locator(".axis span")).to_have_count(7)
    recent = page.get_by_test_id("recent-send")
    expect(recent).to_have_count(2)
    expect(recent.nth(0)).to_contain_text("Running")
    shot(page, "overview.png")
    recent.nth(0).get_by_role("link", name="Autumn promo").click()
    expect(page).to_have_url(f"{page.url.split('/apps/')[0]}/apps/{app.app_key}/send/tasks/{running.pk}/")


SIDEBARS = {
    "marketer": [
        "Overview", "Push configuration", "Key management", "Templates", "Send", "Message list", "Task list",
        "Device query", "Push records", "Receipt log", "Troubleshooting", "Usage analysis",
    ],
    "auditor": [
        "Overview", "Push configuration", "Key management", "Templates", "Message list", "Task list",
        "Device query", "Push records", "Receipt log", "Troubleshooting", "Usage analysis", "Exports", "Audit log",
    ],
    "channel_admin": [
        "Overview", "Push configuration", "Key management", "Templates", "Send", "Message list", "Task list",
        "Device query", "Push records", "Receipt log", "Troubleshooting", "Usage analysis", "Exports", "Audit log",
        "Members",
    ],
}  # fmt: skip


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["marketer", "auditor", "channel_admin"])
def test_each_role_sees_only_links_it_can_use(page, login, app, role, request):
    user = request.getfixturevalue(role)
    login(user)
    page.goto(f"/apps/{app.app_key}/")
    links = page.locator("nav.sidebar a")
    expect(links).to_have_text(SIDEBARS[role])
    # Every link in the sidebar opens for this role (no 403 behind a link).
    for href in [links.nth(i).get_attribute("href") for i in range(links.count())]:
        response = page.request.get(href)
        assert response.status == 200, (role, href, response.status)
    shot(page, f"sidebar-{role}.png")
