"""Headless Chromium: upload an APNs certificate, see its environment and expiry, then the banner."""

from datetime import UTC, datetime, timedelta

import pytest

from console.models import ApnsCertificate
from tests import certs


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_uploads_certificates_and_sees_the_expiry_banner(page, login, app, channel_admin, tmp_path):
    now = datetime.now(UTC)
    cert, key = certs.leaf(app.ios_bundle_id, kind="production", not_after=now + timedelta(days=200))
    good = tmp_path / "prod.p12"
    good.write_bytes(certs.p12(cert, key, "browser-pass"))

    login(channel_admin)
    page.goto(f"/apps/{app.app_key}/push-config/")
    page.get_by_label("Certificate (.p12)").set_input_files(str(good))
    page.get_by_label("Password of the .p12").fill("browser-pass")
    page.get_by_role("button", name="Upload certificate").click()
    page.get_by_test_id("active-certificate").wait_for()
    saved = ApnsCertificate.objects.get(app=app, is_active=True)
    assert page.get_by_test_id("cert-environment").inner_text() == "Production"
    assert page.get_by_test_id("cert-expiry").inner_text() == saved.not_after.strftime("%Y-%m-%d %H:%M")
    assert page.get_by_test_id("cert-expiry-banner").count() == 0

    # A wrong password is refused with its message; the active certificate stays.
    page.get_by_label("Certificate (.p12)").set_input_files(str(good))
    page.get_by_label("Password of the .p12").fill("wrong")
    page.get_by_role("button", name="Upload certificate").click()
    page.get_by_text("The password is wrong for this .p12 file.").wait_for()
    assert ApnsCertificate.objects.get(app=app, is_active=True).pk == saved.pk

    soon_cert, soon_key = certs.leaf(app.ios_bundle_id, kind="development", not_after=now + timedelta(days=10))
    soon = tmp_path / "dev.p12"
    soon.write_bytes(certs.p12(soon_cert, soon_key, "browser-pass"))
    page.get_by_label("Certificate (.p12)").set_input_files(str(soon))
    page.get_by_label("Password of the .p12").fill("browser-pass")
    page.get_by_role("button", name="Upload certificate").click()
    banner = page.get_by_test_id("cert-expiry-banner")
    banner.wait_for()
    assert page.get_by_test_id("cert-environment").inner_text() == "Development (sandbox)"
    text = banner.inner_text()
    # Just under 10 days left reads "10 days": days left are rounded up, never shown short.
    assert f"The APNs certificate for {app.ios_bundle_id}" in text and "expires in 10 days" in text
    # The banner is on every page of the app and links to the replacement form.
    page.goto(f"/apps/{app.app_key}/keys/")
    page.get_by_test_id("cert-expiry-banner").get_by_role("link", name="Replace the certificate").click()
    page.wait_for_url(f"**/apps/{app.app_key}/push-config/")
    assert page.get_by_test_id("certificate-history").locator("tbody tr").count() == 2
