"""Headless Chromium: sign in, create an app, reveal its secret."""

import pytest

from console.models import App, AuditEntry


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_signs_in_creates_an_app_and_reveals_its_secret(page, login, channel_admin):
    login(channel_admin)
    page.get_by_role("link", name="New app").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Browser Shop")
    page.get_by_label("Android package name").fill("com.browser.shop")
    page.get_by_label("iOS bundle id").fill("com.browser.shop")
    page.get_by_role("button", name="Create app").click()
    page.get_by_role("heading", name="Browser Shop").wait_for()
    created = App.objects.get(name="Browser Shop")
    assert page.get_by_test_id("app-key").inner_text() == created.app_key
    assert created.app_secret not in page.content()
    page.get_by_role("button", name="Reveal").click()
    page.get_by_test_id("app-secret-value").wait_for()
    assert page.get_by_test_id("app-secret-value").inner_text() == created.app_secret
    assert AuditEntry.objects.filter(action="app.secret_reveal", app=created).exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_wrong_password_shows_a_clear_message(page, channel_admin):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(channel_admin.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert "Please enter a correct username and password" in page.content()
