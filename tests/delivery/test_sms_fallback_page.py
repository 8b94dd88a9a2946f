"""SMS fallback from the push-configuration page: set, audited, refused to the wrong role,
an SMS reaching the fake provider after switching it on there, listed and explained."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaigns.delivery.sms import sms_due, sms_fallback_send
from campaigns.models import Delivery, SmsMessage
from console.models import App, AuditEntry
from tests.fakes.sms import FakeSms

from .conftest import make_device, make_task, run_task


def _post(app, **fields):
    data = {"enabled": "on", "delay_minutes": "10", "on": "arrive", "provider": "http"}
    data.update(fields)
    return {f"sms-{k}": v for k, v in data.items() if v is not None}


@pytest.mark.django_db
def test_only_a_channel_admin_may_change_it_and_bad_input_changes_nothing(
    app, channel_admin, marketer, auditor, client_for, settings
):
    settings.SMS_HTTP_URL = ""
    url = f"/apps/{app.app_key}/push-config/sms/"
    for user in (marketer, auditor):
        assert client_for(user).post(url, _post(app)).status_code == 403
    app.refresh_from_db()
    assert not app.sms_fallback_enabled
    assert not AuditEntry.objects.filter(action="credentials.sms_fallback").exists()
    # The marketer still reads the settings and the list of SMS.
    page = client_for(marketer).get(f"/apps/{app.app_key}/push-config/").content.decode()
    assert "SMS fallback" in page and "Save SMS fallback" not in page
    assert client_for(marketer).get(f"/apps/{app.app_key}/sms/").status_code == 200

    admin = client_for(channel_admin)
    for bad, message in (
        ({"delay_minutes": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"delay_minutes": "abc"}, "Enter a whole number."),
        ({"on": "never"}, "Select a valid choice."),
        ({"provider": "carrier-pigeon"}, "Select a valid choice."),
        ({"provider": "http"}, "The HTTP SMS API is not set up on this server"),
    ):
        response = admin.post(url, _post(app, **bad))
        assert response.status_code == 400 and message in response.content.decode(), bad
    app.refresh_from_db()
    assert (app.sms_fallback_enabled, app.sms_fallback_delay) == (False, 3600)

    settings.SMS_HTTP_URL = "http://127.0.0.1:9/sms"
    assert admin.post(url, _post(app, delay_minutes="15", on="click")).status_code == 302
    app.refresh_from_db()
    assert (app.sms_fallback_enabled, app.sms_fallback_delay, app.sms_fallback_on, app.sms_fallback_provider) == (
        True,
        900,
        "click",
        "http",
    )
    entry = AuditEntry.objects.get(action="credentials.sms_fallback")
    assert entry.summary["before"] == {
        "sms_fallback_enabled": False,
        "sms_fallback_delay": 3600,
        "sms_fallback_on": "arrive",
        "sms_fallback_provider": "",
    }
    assert entry.summary["after"]["sms_fallback_delay"] == 900 and entry.actor_id == channel_admin.pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_switched_on_in_the_page_an_sms_reaches_the_provider_and_is_listed(page, login, app, channel_admin, settings):
    fake = FakeSms(secret="page-secret")
    settings.SMS_HTTP_URL, settings.SMS_HTTP_KEY, settings.SMS_HTTP_SECRET = fake.url, "k", "page-secret"
    login(channel_admin)
    page.goto(f"/apps/{app.app_key}/push-config/")
    assert page.get_by_test_id("sms-status").inner_text() == "Off"
    help_text = page.get_by_test_id("sms-arrived-help").inner_text()
    assert "iOS message APNs accepted" in help_text and "self-built channel" in help_text
    assert "FCM or an Android vendor channel does not count" in help_text

    page.get_by_label("SMS fallback on").check()
    page.get_by_label("Send the SMS after (minutes)").fill("10")
    page.get_by_label("Send it when the notification has").select_option("arrive")
    page.get_by_label("SMS provider").select_option("http")
    page.get_by_role("button", name="Save SMS fallback").click()
    page.get_by_text("SMS fallback saved.").wait_for()
    assert page.get_by_test_id("sms-status").inner_text() == "On"
    assert App.objects.get(pk=app.pk).sms_fallback_delay == 600

    with fake:
        make_device(app, "phone-1", phone_number="+8613800000009")
        task = make_task(app, ["phone-1"])
        run_task(task)
        delivery = Delivery.objects.get(message__task=task)
        later = delivery.created_at + timedelta(seconds=601)
        # What the beat sweep and its worker task do, ten minutes on.
        assert sms_due(now=later) == [delivery.pk]
        assert sms_fallback_send(delivery_id=delivery.pk, now=later) == "sent"
    assert [(r["body"]["to"], r["valid"]) for r in fake.received] == [("+8613800000009", True)]
    assert SmsMessage.objects.get(delivery=delivery).provider == "http"

    page.goto(f"/apps/{app.app_key}/push-config/")
    page.get_by_role("link", name="SMS sent").click()
    row = page.get_by_test_id("sms-row")
    assert row.count() == 1
    text = row.inner_text()
    assert "+8613800000009" in text and "Sent" in text and "phone-1" in text

    page.goto(f"/apps/{app.app_key}/troubleshoot/?message_ref={delivery.message_id}")
    page.get_by_text("A fallback SMS went out to +8613800000009").wait_for()
