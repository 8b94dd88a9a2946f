"""A scheduled send typed in ISO in Chromium is read in the viewer's zone, not the browser's."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import PushTask, TaskStatus
from console.models import UserProfile
from tests.campaigns.send_fixtures import make_device

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_scheduled_send_typed_in_iso_is_read_in_the_viewers_zone(browser, live_server, app, marketer, password):
    UserProfile.objects.filter(user=marketer).update(timezone="Asia/Shanghai")
    make_device(app, "iso-1")
    day = timezone.now().astimezone(SHANGHAI).date() + timedelta(days=1)
    # The browser sits in New York with US formats: neither may leak into what is read.
    context = browser.new_context(base_url=live_server.url, locale="en-US", timezone_id="America/New_York")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(marketer.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")

        page.goto(f"/apps/{app.app_key}/send/simple/")
        send_at = page.get_by_label("Send at")
        assert send_at.get_attribute("type") == "text"
        assert send_at.get_attribute("placeholder") == "YYYY-MM-DD HH:MM"
        expect(page.locator("label[for=id_send_at]").get_by_test_id("picker-zone")).to_have_text(
            "(Asia/Shanghai, UTC+08:00)"
        )
        page.locator("[name=targets]").fill("iso-1")
        page.get_by_label("Title").fill("Later")
        page.get_by_label("Body").fill("At nine in Shanghai")
        send_at.fill(f"{day.isoformat()} 21:05")
        page.get_by_role("button", name="Preview").click()
        page.get_by_test_id("ios-payload").wait_for()
        # The preview keeps the value as typed.
        expect(page.get_by_label("Send at")).to_have_value(f"{day.isoformat()} 21:05")
        with page.expect_navigation(url=re.compile(r"/send/tasks/\d+/$")):
            page.get_by_role("button", name="Send", exact=True).click()
        expect(page.get_by_test_id("task-status")).to_have_text("Scheduled")
        expect(page.get_by_text(f"{day.isoformat()} 21:05 (UTC+0800)")).to_be_visible()
    finally:
        context.close()
    task = PushTask.objects.get()
    assert task.status == TaskStatus.SCHEDULED
    assert task.scheduled_at == datetime.combine(day, time(13, 5), tzinfo=UTC)
