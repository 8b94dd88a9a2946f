"""SMS fallback: one SMS when a notification has not arrived (or not been clicked) by the delay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaigns.delivery.sms import HttpSmsProvider, sms_fallback_send
from campaigns.delivery.status import delivery_event
from campaigns.models import Delivery, SmsMessage, StatusEvent
from tests.fakes.sms import FakeSms

from .conftest import make_device, make_task, run_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def fallback_app(app):
    app.sms_fallback_enabled = True
    app.sms_fallback_delay = 600
    app.save()
    return app


def one_delivery(app, device_id, **device_fields):
    make_device(app, device_id, phone_number="+8613800000001", **device_fields)
    task = make_task(app, [device_id])
    run_task(task)
    return Delivery.objects.get(message__task=task)


def test_one_sms_when_not_arrived_by_the_delay(fallback_app):
    delivery = one_delivery(fallback_app, "p1")
    assert sms_fallback_send(delivery_id=delivery.pk, now=delivery.created_at + timedelta(seconds=60)) == "too early"
    later = delivery.created_at + timedelta(seconds=600)
    assert sms_fallback_send(delivery_id=delivery.pk, now=later) == "sent"
    assert sms_fallback_send(delivery_id=delivery.pk, now=later) == "already sent"
    sms = SmsMessage.objects.get(delivery=delivery)
    assert (sms.phone_number, sms.provider, sms.state) == ("+8613800000001", "sandbox", "sent")
    assert (
        StatusEvent.objects.filter(message=delivery.message, description__startswith="SMS fallback sent").count() == 1
    )


def test_no_sms_when_arrived_or_switched_off(fallback_app):
    delivery = one_delivery(fallback_app, "p2")
    delivery_event(delivery=delivery, event="arrive")
    later = delivery.created_at + timedelta(seconds=600)
    assert sms_fallback_send(delivery_id=delivery.pk, now=later) == "not needed"
    fallback_app.sms_fallback_enabled = False
    fallback_app.save()
    other = one_delivery(fallback_app, "p3")
    assert sms_fallback_send(delivery_id=other.pk, now=later) == "off"
    assert not SmsMessage.objects.exists()


def test_click_mode_sends_when_arrived_but_not_clicked(fallback_app):
    fallback_app.sms_fallback_on = "click"
    fallback_app.save()
    delivery = one_delivery(fallback_app, "p4")
    delivery_event(delivery=delivery, event="arrive")
    assert sms_fallback_send(delivery_id=delivery.pk, now=delivery.created_at + timedelta(seconds=601)) == "sent"


def test_http_provider_posts_a_signed_request_and_records_failures(fallback_app):
    with FakeSms() as fake:
        provider = HttpSmsProvider(url=fake.url, key="k", secret="sms-secret")
        ok = one_delivery(fallback_app, "p5")
        later = ok.created_at + timedelta(seconds=600)
        assert sms_fallback_send(delivery_id=ok.pk, now=later, provider=provider) == "sent"
        fake.status = 503
        bad = one_delivery(fallback_app, "p6")
        assert sms_fallback_send(delivery_id=bad.pk, now=later, provider=provider) == "failed"
    assert all(r["valid"] for r in fake.received) and fake.received[0]["body"]["to"] == "+8613800000001"
    assert SmsMessage.objects.get(delivery=ok).provider_message_id == "prov-1"
    failed = SmsMessage.objects.get(delivery=bad)
    assert (failed.state, failed.error) == ("failed", "HTTP 503")
    assert StatusEvent.objects.filter(message=bad.message, description__contains="failed (HTTP 503)").exists()


def test_beat_sweep_finds_only_due_unarrived_deliveries(fallback_app):
    from campaigns.delivery.sms import sms_due

    due = one_delivery(fallback_app, "s1")
    arrived = one_delivery(fallback_app, "s2")
    delivery_event(delivery=arrived, event="arrive")
    make_device(fallback_app, "s3")  # no phone number
    task = make_task(fallback_app, ["s3"])
    run_task(task)
    assert sms_due(now=due.created_at + timedelta(seconds=300)) == []
    later = due.created_at + timedelta(seconds=601)
    assert sms_due(now=later) == [due.pk]
    sms_fallback_send(delivery_id=due.pk, now=later)
    assert sms_due(now=later) == []


def test_a_silent_message_never_falls_back_to_sms(fallback_app):
    from campaigns.delivery.sms import sms_due
    from campaigns.models import Message

    due = one_delivery(fallback_app, "s1")
    later = due.created_at + timedelta(seconds=601)
    Message.objects.filter(pk=due.message_id).update(payload={"display_type": "silent"})
    assert sms_due(now=later) == []
    Message.objects.filter(pk=due.message_id).update(payload={"display_type": "notification"})
    assert sms_due(now=later) == [due.pk]
