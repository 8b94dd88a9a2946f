"""Headless Chromium: a marketer whose role requires two-factor enrols, then signs in with a code."""

import time

import pytest

from console.models import AuditEntry
from console.security.models import TwoFactorPolicy

from .conftest import totp


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_marketer_enrols_an_authenticator_and_signs_in_with_a_code(page, login, marketer, password):
    TwoFactorPolicy.objects.create(require_marketers=True)
    login(marketer)
    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    secret = page.locator("[data-totp-secret]").inner_text()
    assert page.locator("[data-totp-uri]").get_attribute("href").startswith("otpauth://totp/")
    # A code of a period that ends before the server checks it is taken with one step of drift,
    # which django-otp then keeps: the code of the period after next is refused at sign-in.
    left = 30 - time.time() % 30
    if left < 8:
        time.sleep(left + 0.2)
    page.get_by_label("Code from your authenticator app").fill(totp(secret))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("Two-factor sign-in is on for your account.").wait_for()
    assert AuditEntry.objects.filter(action="auth.2fa_enrol", actor=marketer).exists()

    page.get_by_role("button", name="Sign out").click()
    login(marketer)
    page.get_by_role("heading", name="Two-factor sign-in").wait_for()
    page.get_by_label("Code from your authenticator app").fill("12x")
    page.get_by_role("button", name="Verify").click()
    page.get_by_text("Enter the 6-digit code.").wait_for()
    # The enrolment used this period's code: the next one (one step of drift is allowed).
    page.get_by_label("Code from your authenticator app").fill(totp(secret, time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("link", name="Preferences").or_(page.get_by_title("Preferences")).first.wait_for()
    assert "/accounts/two-factor" not in page.url
