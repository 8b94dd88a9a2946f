"""The clock moves over a certificate's expiry: banner from 15 days, one warning per threshold, iOS blocked."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from console.celery import app as celery_app
from console.credentials import parsing, services
from console.models import ApnsCertificate, AuditEntry, CredentialAlert
from console.selectors import credential_warnings
from console.tasks import warn_expiring_certificates
from tests import certs


def _install(app, admin, not_after, not_before=None, kind="production"):
    cert, key = certs.leaf(app.ios_bundle_id, kind=kind, not_after=not_after, not_before=not_before)
    data = certs.p12(cert, key)
    parsed = parsing.parse_p12(data, "s3cret-p12", now=not_before + timedelta(hours=1) if not_before else None)
    return services.apns_certificate_upload(app=app, parsed=parsed, data=data, password="s3cret-p12", actor=admin)


def test_clock_over_expiry_banner_warnings_and_ios_block(
    app, other_app, channel_admin, marketer, django_capture_on_commit_callbacks
):
    start = datetime.now(UTC).replace(microsecond=0)
    expiry = start + timedelta(days=40)
    cert = _install(app, channel_admin, expiry, not_before=start - timedelta(days=1))
    _install(other_app, channel_admin, start + timedelta(days=400), not_before=start - timedelta(days=1))

    seen = []
    for day in range(41, -4, -1):
        now = expiry - timedelta(days=day) + timedelta(hours=1)
        for _run in range(2):  # the job may run twice a day: still one warning per threshold
            with django_capture_on_commit_callbacks(execute=True):
                created = services.certificates_expiry_warn(now=now)
            seen.extend((day, a.threshold_days) for a in created)
        remaining = expiry - now
        warnings = credential_warnings(app=app, now=now)
        assert bool(warnings) == (remaining <= timedelta(days=15)), day
        if warnings:
            assert warnings[0]["certificate"].pk == cert.pk
            # Rounded up: 9 days 23 hours left reads "10 days".
            assert warnings[0]["days_left"] == max(-(-remaining // timedelta(days=1)), 0) == max(day, 0)
        assert credential_warnings(app=other_app, now=now) == []
        reason = services.ios_send_block_reason(app, now=now)
        assert (reason is not None) == (now >= expiry), day
        assert services.ios_send_block_reason(other_app, now=now) is None
        assert services.send_block_reason(app, "android", now=now) is None
        if reason:
            assert app.ios_bundle_id in reason and "expired" in reason

    # One warning per threshold, each the first day it was crossed.
    assert seen == [(30, 30), (15, 15), (7, 7), (1, 1), (0, 0)]
    assert sorted(CredentialAlert.objects.filter(certificate=cert).values_list("threshold_days", flat=True)) == [
        0, 1, 7, 15, 30,
    ]  # fmt: skip
    assert AuditEntry.objects.filter(action="credentials.expiry_warning", app=app).count() == 5
    assert len(mail.outbox) == 5
    assert all(m.to == [channel_admin.email] for m in mail.outbox)  # channel admins only, not the marketer
    assert "expires within 30 days" in mail.outbox[0].subject and "has expired" in mail.outbox[-1].subject


def test_token_auth_is_not_blocked_by_an_expired_certificate(app, channel_admin):
    start = datetime.now(UTC)
    _install(app, channel_admin, start + timedelta(days=2), not_before=start - timedelta(days=1))
    later = start + timedelta(days=3)
    assert services.ios_send_block_reason(app, now=later)
    services.apns_token_key_save(
        app=app,
        key_pem=certs.p8_key(),
        key_id="ABC123DEFG",
        team_id="TEAM123456",
        topic=app.ios_bundle_id,
        environment="production",
        actor=channel_admin,
    )
    services.apns_auth_set(app=app, auth="token", actor=channel_admin)
    assert services.ios_send_block_reason(app, now=later) is None


def test_banner_on_every_page_of_the_app_from_15_days(app, other_app, channel_admin, marketer, outsider, client_for):
    now = datetime.now(UTC)
    cert = _install(app, channel_admin, now + timedelta(days=16), not_before=now - timedelta(days=1))
    c = client_for(marketer)
    assert 'data-testid="cert-expiry-banner"' not in c.get(f"/apps/{app.app_key}/").content.decode()
    cert = _install(
        app, channel_admin, now + timedelta(days=15) - timedelta(minutes=5), not_before=now - timedelta(days=1)
    )
    for path in ("", "push-config/", "keys/"):
        html = c.get(f"/apps/{app.app_key}/{path}").content.decode()
        assert 'data-testid="cert-expiry-banner"' in html
        # 14 days 23 hours 55 minutes left: rounded up.
        assert (
            f"The APNs certificate for {app.ios_bundle_id} (Production, serial {cert.serial}) expires in 15 days"
            in html
        )
        # The health table (overview, push configuration) rounds up the same way.
        if path != "keys/":
            assert '<span data-testid="days-left">(15 days left)</span>' in html
        # A marketer cannot replace it: the banner says who can instead of linking to a form that refuses.
        assert "Replace the certificate" not in html and "A channel admin of this app can replace it." in html
    html = client_for(channel_admin).get(f"/apps/{app.app_key}/").content.decode()
    assert f'href="/apps/{app.app_key}/push-config/">Replace the certificate' in html
    assert "cert-expiry-banner" not in client_for(outsider).get(f"/apps/{other_app.app_key}/").content.decode()
    # An expired certificate (kept from before) shows the blocking banner.
    ApnsCertificate.objects.filter(pk=cert.pk).update(not_after=now - timedelta(hours=1))
    html = c.get(f"/apps/{app.app_key}/").content.decode()
    assert "iOS sends are blocked until you upload a new one" in html


def test_daily_job_is_scheduled_and_runs(app, channel_admin, django_capture_on_commit_callbacks):
    entry = celery_app.conf.beat_schedule["warn-expiring-certificates"]
    assert entry["task"] == "console.tasks.warn_expiring_certificates"
    now = datetime.now(UTC)
    _install(app, channel_admin, now + timedelta(days=6), not_before=now - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert warn_expiring_certificates() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert warn_expiring_certificates() == 0
    assert list(CredentialAlert.objects.values_list("threshold_days", flat=True)) == [7]
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_apps_without_certificates_are_not_blocked(app, platform):
    assert services.send_block_reason(app, platform) is None


def test_overview_lists_credential_health_states(app, channel_admin, marketer, client_for):
    from console.health import credential_health
    from console.models import ChannelPackage, VendorChannel

    now = datetime.now(UTC)
    cert = _install(app, channel_admin, now + timedelta(days=100), not_before=now - timedelta(days=1))
    package = ChannelPackage.objects.create(app=app, package_name="com.shop.main", is_main=True)
    VendorChannel.objects.create(
        app=app, package=package, vendor="oppo", enabled=True, last_error="10000 invalid registration id"
    )
    states = {row["kind"]: row["state"] for row in credential_health(app=app, now=now)}
    assert states == {"APNs certificate": "ok", "OPPO": "failing"}
    assert credential_health(app=app, now=cert.not_after - timedelta(days=15))[0]["state"] == "expiring"
    assert credential_health(app=app, now=cert.not_after - timedelta(days=16))[0]["state"] == "ok"
    assert credential_health(app=app, now=cert.not_after)[0]["state"] == "expired"
    nine_days_23_hours = credential_health(app=app, now=cert.not_after - timedelta(days=9, hours=23))[0]
    assert nine_days_23_hours["days_left"] == 10
    html = client_for(marketer).get(f"/apps/{app.app_key}/").content.decode()
    assert "10000 invalid registration id" in html and "Failing" in html
