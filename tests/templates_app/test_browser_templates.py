"""Headless Chromium: write a template with a live preview, save, edit, and read its history."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Message, PushTask, TaskStatus
from templates_app.models import Template
from templates_app.rendering import render_message


def _watch_console(page):
    problems = []
    # Failed loads are checked by URL below (the browser's own favicon request 404s).
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )
    return problems


def _send_made_with(version, values, name):
    """What a send records (built elsewhere): the version it used and the text rendered from it."""
    rendered = render_message(title=version.title, body=version.body, url=version.url, values=values)
    task = PushTask.objects.create(
        app=version.template.app,
        name=name,
        push_type="TEMPLATE",
        source="console",
        template_version=version,
        status=TaskStatus.FINISHED,
        params={"templateKeyValue": values},
    )
    Message.objects.create(
        app=task.app,
        task=task,
        customer_msg_id=f"{name}-1",
        push_type="TEMPLATE",
        target_type="user",
        target_id="user-1",
        title=rendered.title,
        body=rendered.body,
        expires_at=timezone.now() + timedelta(minutes=3),
    )
    return task


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_type_preview_save_edit_and_see_version_two_with_a_diff(page, login, app, marketer):
    problems = _watch_console(page)
    login(marketer)
    page.goto(f"/apps/{app.app_key}/templates/")
    page.get_by_role("link", name="New template").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Placeholders found")  # rendered on load

    page.locator("#id_name").fill("spring_sale")
    page.locator("#id_description").fill("Spring sale")
    page.locator("#id_title").press_sequentially("Hi #name#", delay=20)
    expect(preview.get_by_test_id("placeholders")).to_contain_text("#name#")
    expect(preview.get_by_test_id("android-mock")).to_contain_text("Hi #name#")
    page.locator("#id_body").press_sequentially("Your code is #code#", delay=20)
    expect(preview.get_by_test_id("placeholders")).to_contain_text("#code#")
    expect(preview).to_contain_text("No sample value for: name, code")

    # Sample values typed by the marketer fill both mocks and the exact payloads.
    page.locator("#id_sample_values").press_sequentially("name=Zoë\ncode=🎁42", delay=10)
    expect(preview.get_by_test_id("android-mock")).to_contain_text("Hi Zoë")
    expect(preview.get_by_test_id("ios-mock")).to_contain_text("Your code is 🎁42")
    expect(preview.get_by_test_id("apns-json")).to_contain_text('"title": "Hi Zoë"')
    expect(preview.get_by_test_id("fcm-json")).to_contain_text('"body": "Your code is 🎁42"')
    expect(preview).not_to_contain_text("No sample value")

    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("spring_sale")
    expect(page.get_by_role("heading", level=1)).to_contain_text("v1")
    template = Template.objects.get(app=app, name="spring_sale")
    v1 = template.current_version
    assert (v1.number, v1.title, v1.body) == (1, "Hi #name#", "Your code is #code#")

    # A send made before the edit, recorded as the sends code records it.
    _send_made_with(v1, {"name": "Ann", "code": "77"}, "Console before edit")

    page.get_by_role("link", name="Edit").click()
    title = page.locator("#id_title")
    expect(title).to_have_value("Hi #name#")
    title.fill("")
    title.press_sequentially("Hello #name#, welcome back", delay=10)
    expect(preview.get_by_test_id("android-mock")).to_contain_text("Hello #name#, welcome back")
    page.get_by_role("button", name="Save as new version").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("v2")

    page.get_by_role("link", name="History").click()
    v2_card = page.get_by_test_id("version-2")
    expect(v2_card).to_contain_text("Saved by mark_marketer")
    expect(v2_card.get_by_test_id("diff")).to_contain_text("-title: Hi #name#")
    expect(v2_card.get_by_test_id("diff")).to_contain_text("+title: Hello #name#, welcome back")
    expect(v2_card).to_contain_text("No sends used this version.")

    # The send made before the edit still shows version 1's text.
    v1_card = page.get_by_test_id("version-1")
    expect(v1_card.get_by_test_id("version-title")).to_have_text("Hi #name#")
    sends = v1_card.get_by_test_id("sends")
    expect(sends).to_contain_text("Console before edit")
    expect(sends).to_contain_text("Hi Ann")
    expect(sends).to_contain_text("Your code is 77")
    assert not re.search("Hello Ann", sends.inner_text())
    assert PushTask.objects.get(name="Console before edit").template_version_id == v1.pk
    assert problems == [], problems


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dropping_a_csv_previews_its_first_rows_and_sends_only_its_start(page, login, app, marketer, tmp_path):
    problems = _watch_console(page)
    rows = tmp_path / "rows.csv"
    filler = "".join(f"user{i},msg-{i},name=N{i}\n" for i in range(4, 20_000))  # ~400 KB more
    rows.write_text("user1,msg-1,name=Ann\nuser2,msg-2,name=Bo\nuser3,msg-3\n" + filler, encoding="utf-8")
    assert rows.stat().st_size > 300_000
    posts = []
    page.on("request", lambda r: posts.append((r.url, r.post_data_buffer or b"")) if r.method == "POST" else None)
    login(marketer)
    page.goto(f"/apps/{app.app_key}/templates/new/")
    page.locator("#id_name").fill("csv_check")
    page.locator("#id_description").fill("CSV check")
    page.locator("#id_title").press_sequentially("Hi #name#", delay=10)
    page.locator("#id_body").fill("Body")
    page.locator("#id_sample_csv").set_input_files(str(rows))
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Row 1: user1 · msg-1")
    expect(preview).to_contain_text("Hi Ann")
    expect(preview).to_contain_text("Hi Bo")
    expect(preview).to_contain_text("No sample value for: name")  # row 3 has no value
    # Only the first 64 KB of the 400 KB file went to the server.
    expect(preview.get_by_test_id("csv-received")).to_have_text(
        "Rows from the start of rows.csv (64.0\xa0KB received)."
    )

    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("csv_check")
    saves = [body for url, body in posts if url.endswith("/templates/new/")]
    assert len(saves) == 1 and b"csv_check" in saves[0]  # the body was captured
    assert b"sample_csv" not in saves[0] and b"user1,msg-1" not in saves[0]
    assert problems == [], problems


AXE = (Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js").read_text()


def _axe_violations(page):
    page.evaluate(AXE)
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_editor_and_history_have_no_serious_accessibility_violations(page, login, app, marketer):
    from tests.templates_app.helpers import make_template

    template = make_template(app, name="a11y", actor=marketer)
    login(marketer)
    page.goto(f"/apps/{app.app_key}/templates/{template.pk}/edit/")
    expect(page.locator("#preview")).to_contain_text("Placeholders found")
    assert _axe_violations(page) == []
    page.get_by_role("button", name="Save as new version").click()
    page.goto(f"/apps/{app.app_key}/templates/{template.pk}/history/")
    assert _axe_violations(page) == []
    page.goto(f"/apps/{app.app_key}/templates/")
    page.get_by_label("Search name, description, title or body").fill("a11y")
    expect(page.locator("#template-rows")).to_contain_text("a11y")
    assert _axe_violations(page) == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chosen_icon_and_image_show_in_the_preview_before_saving(page, login, app, marketer, tmp_path):
    from tests.templates_app.helpers import image_bytes

    problems = _watch_console(page)
    icon, large = tmp_path / "icon.png", tmp_path / "large.png"
    icon.write_bytes(image_bytes(140, 140))
    large.write_bytes(image_bytes(876, 324))
    login(marketer)
    page.goto(f"/apps/{app.app_key}/templates/new/")
    page.locator("#id_title").fill("With pictures")
    page.locator("#id_body").fill("Body")
    page.locator("#id_icon").set_input_files(str(icon))
    page.locator("#id_image").set_input_files(str(large))
    mock = page.get_by_test_id("android-mock")
    expect(mock.locator("img.mock-image")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(mock.locator("img.mock-icon")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    # Drawn by the browser under the page's CSP, at the chosen files' own size.
    sizes = page.get_by_test_id("ios-mock").locator("img").evaluate_all("els => els.map(e => e.naturalWidth)")
    assert sizes == [140, 876]
    assert not Template.objects.filter(app=app).exists()
    assert problems == [], problems
