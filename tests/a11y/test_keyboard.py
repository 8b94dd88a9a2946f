"""The send flow works with the keyboard alone (Tab, Enter, Space and typing; no mouse)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from campaigns.models import Message, PushTask, TaskStatus
from tests.campaigns.send_fixtures import make_device

FOCUSED = """() => {
    const e = document.activeElement;
    return {tag: e.tagName, id: e.id, name: e.getAttribute('name'), value: e.getAttribute('value'),
            text: (e.innerText || '').trim(), invalid: e.getAttribute('aria-invalid'),
            describedby: e.getAttribute('aria-describedby')};
}"""


def focused(page) -> dict:
    return page.evaluate(FOCUSED)


def tab_to(page, matches, limit: int = 80) -> dict:
    """Press Tab until the focused element matches; fail if it is never reached."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        if matches(now):
            return now
    raise AssertionError("never reached by Tab")


def field(name):
    return lambda f: f["name"] == name


def button(value):
    return lambda f: f["tag"] == "BUTTON" and f["value"] == value


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_simple_push_from_send_page_to_task_page_by_keyboard(page, login, app, marketer):
    make_device(app, "k1")
    login(marketer)
    page.goto(f"/apps/{app.app_key}/send/")

    tab_to(page, lambda f: f["tag"] == "A" and f["text"] == "Simple push")
    with page.expect_navigation(url=re.compile(r"/send/simple/$")):
        page.keyboard.press("Enter")

    # A preview with a missing title: the page comes back with focus on that field, and the
    # field names its error for screen readers.
    tab_to(page, field("targets"))
    page.keyboard.type("k1")
    tab_to(page, button("preview"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    now = focused(page)
    assert now["name"] == "title" and now["invalid"] == "true", now
    error = page.locator(f"#{now['describedby'].split()[-1]}")
    assert error.inner_text() == "This field is required."

    page.keyboard.type("Hello")
    tab_to(page, field("body"))
    page.keyboard.type("Sent with the keyboard")
    tab_to(page, button("preview"))
    with page.expect_navigation():
        page.keyboard.press("Space")
    # Focus starts at the preview; the next stops are the payloads, then Send.
    now = focused(page)
    assert now["id"] == "preview-title", now
    assert '"Hello"' in page.get_by_test_id("ios-payload").inner_text()
    tab_to(page, button("submit"), limit=6)
    with page.expect_navigation(url=re.compile(r"/send/tasks/\d+/$")):
        page.keyboard.press("Enter")
    expect(page.get_by_test_id("task-status")).to_have_text("Queued")
    task = PushTask.objects.get()
    assert page.url.endswith(f"/send/tasks/{task.pk}/")
    assert task.status == TaskStatus.QUEUED and task.created_by == marketer
    assert Message.objects.get(task=task).title == "Hello"


ACTIVE_IN = "(selector) => { const box = document.querySelector(selector); return !!box && box.contains(document.activeElement); }"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_htmx_swaps_move_focus_to_asked_for_results_and_keep_it_on_refresh(page, login, app, marketer):
    from tests.factories_campaigns import MessageFactory, PushTaskFactory

    MessageFactory(app=app, customer_msg_id="kb-other")
    MessageFactory(app=app, customer_msg_id="kb-wanted")
    running = PushTaskFactory(app=app, status="running", target_count=100, pushed=10)
    login(marketer)

    # A filter the person submits with Enter: the results replace the list and focus moves into them.
    page.goto(f"/apps/{app.app_key}/messages/")
    tab_to(page, field("customer_msg_id"))
    page.keyboard.type("kb-wanted")
    page.keyboard.press("Enter")
    expect(page.locator("#message-rows")).not_to_contain_text("kb-other")
    expect(page.locator("#message-rows")).to_contain_text("kb-wanted")
    page.wait_for_function(ACTIVE_IN, arg="#message-rows")

    # A row that refreshes itself every 2 s never takes focus away; when the focused Stop
    # button is replaced by the refresh, its successor has focus.
    page.goto(f"/apps/{app.app_key}/tasks/")
    tab_to(page, lambda f: f["tag"] == "BUTTON" and f["text"] == "Stop")
    PushTask.objects.filter(pk=running.pk).update(pushed=60)
    expect(page.get_by_test_id("progress")).to_have_text("60%", timeout=10_000)
    now = focused(page)
    assert now["tag"] == "BUTTON" and now["text"] == "Stop", now
    assert page.evaluate(ACTIVE_IN, f"#task-{running.pk}")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_later_timeline_events_come_with_enter_and_focus_follows_them(page, login, app, marketer):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import StatusEvent
    from tests.factories_campaigns import MessageFactory

    message = MessageFactory(app=app, customer_msg_id="kb-timeline")
    t0 = timezone.now() - timedelta(hours=1)
    StatusEvent.objects.bulk_create(
        StatusEvent(message=message, at=t0 + timedelta(seconds=i), state="waiting", status=0, description=f"step {i}")
        for i in range(150)
    )
    login(marketer)
    page.goto(f"/apps/{app.app_key}/messages/{message.pk}/")
    rows = page.get_by_test_id("status-timeline").locator("tbody tr:not(.more)")
    expect(rows).to_have_count(100)
    tab_to(page, lambda f: f["tag"] == "A" and f["text"] == "Show later events")
    page.keyboard.press("Enter")
    # The rest are appended in place, and focus moves to the end of the timeline, not to the page.
    expect(rows).to_have_count(150)
    expect(page.get_by_test_id("status-timeline")).to_contain_text("step 149")
    expect(page.get_by_test_id("timeline-more")).to_have_count(0)
    page.wait_for_function("() => document.activeElement.textContent.trim() === 'No later events.'")
