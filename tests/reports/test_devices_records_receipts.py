from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import DeviceAlias, Tag
from tests.factories_campaigns import (
    DeliveryFactory,
    DeviceFactory,
    MessageFactory,
    PushTaskFactory,
    ReceiptEventFactory,
    UserBindingFactory,
)

pytestmark = pytest.mark.django_db


def _url(app, name, **params):
    return reverse(f"campaigns:{name}", kwargs={"app_key": app.app_key}) + ("?" + urlencode(params) if params else "")


def test_device_query_by_user_id_and_device_id(app, other_app, auditor, client_for):
    now = timezone.now()
    d1 = DeviceFactory(app=app, device_id="android-1", online=True, vendor_token="hw-tok-1", manufacturer="Huawei")
    d2 = DeviceFactory(app=app, device_id="ios-1", platform="ios", vendor="", apns_token="ab" * 32,
                       token_dead_at=now, token_dead_reason="Unregistered")  # fmt: skip
    UserBindingFactory(device=d1, user_id="alice")
    UserBindingFactory(device=d2, user_id="alice")
    DeviceFactory(app=other_app, device_id="foreign")
    UserBindingFactory(device=DeviceFactory(app=other_app), user_id="alice")
    DeviceAlias.objects.create(app=app, device=d1, alias="al-1")
    Tag.objects.create(app=app, name="vip").devices.add(d1)
    message = MessageFactory(app=app, title="Flash sale")
    DeliveryFactory(message=message, device=d1, state="accepted")
    c = client_for(auditor)
    reports = c.get(_url(app, "device-query", user_id="alice")).context["reports"]
    assert [r.device.device_id for r in reports] == ["android-1", "ios-1"]
    html = c.get(_url(app, "device-query", device_id="android-1")).content.decode()
    for text in ("alice", "hw-tok-1", "Huawei", "al-1", "vip", "Flash sale", "Online", "Valid"):
        assert text in html, text
    html = c.get(_url(app, "device-query", device_id="ios-1")).content.decode()
    assert "Unknown" in html and "Dead since" in html and "Unregistered" in html
    assert c.get(_url(app, "device-query", device_id="foreign")).context["reports"] == []
    empty = c.get(_url(app, "device-query", user_id="", device_id=""))
    assert "Enter a user id or a device id." in empty.content.decode()


def test_push_records_show_target_type_and_per_channel_stats(app, marketer, client_for):
    """The figures come from the engine's own recording (sent, then device reports), are read
    from the per-channel counters without touching deliveries, and outlive retention."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.delivery import status
    from campaigns.retention import messages_purge

    task = PushTaskFactory(app=app, name="rec", push_type="SIMPLE")
    m = MessageFactory(app=app, task=task, target_type="user")
    plan = [
        ("huawei", 1, 1, 1, 0),
        ("huawei", 1, 1, 0, 1),
        ("huawei", 1, 0, 0, 0),
        ("apns", 1, 1, 0, 0),  # APNs gives no arrive: accepted counts as arrived
        ("apns", 0, 0, 0, 0),
    ]
    deliveries = [(DeliveryFactory(message=m, device=DeviceFactory(app=app), channel=ch), row) for ch, *row in plan]
    outcomes = [
        status.Outcome(d.pk, "accepted", 2) if acc else status.Outcome(d.pk, "failed", 99999999, 400, "BadDeviceToken")
        for d, (acc, _arr, _clk, _clr) in deliveries
    ]
    assert status.deliveries_record(outcomes) == 5
    for d, (_acc, arr, clk, clr) in deliveries:
        d.refresh_from_db()
        for flag, event in ((arr and d.channel != "apns", "arrive"), (clk, "click"), (clr, "clean")):
            if flag:
                assert status.delivery_event(delivery=d, event=event)
                assert not status.delivery_event(delivery=d, event=event), "counted once"
    broadcast = PushTaskFactory(app=app, name="all", push_type="BROADCAST", params={"target_type": "all"})
    client = client_for(marketer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(_url(app, "push-records"))
    assert not [q for q in queries.captured_queries if "campaigns_delivery" in q["sql"]]
    records = {r.task.pk: r for r in response.context["records"]}
    assert records[broadcast.pk].target_types == ["All devices"] and records[broadcast.pk].channels == []
    record = records[task.pk]
    assert record.target_types == ["User id"]  # the label people read, not the code
    stats = {c.channel: (c.sent, c.arrived, c.clicked, c.cleared) for c in record.channels}
    assert stats == {"huawei": (3, 2, 1, 1), "apns": (1, 1, 0, 0)}
    assert "<td>Huawei</td><td>3</td><td>2</td><td>1</td><td>1</td>" in response.content.decode()
    # Retention deletes the messages and deliveries; the send keeps its figures.
    assert messages_purge(now=timezone.now() + timedelta(days=1), days=0).messages == 1
    record = {r.task.pk: r for r in client.get(_url(app, "push-records")).context["records"]}[task.pk]
    assert {c.channel: (c.sent, c.arrived, c.clicked, c.cleared) for c in record.channels} == stats


def test_receipt_log_filters_by_time_event_device_and_message(app, auditor, client_for):
    now = timezone.now()
    dev = DeviceFactory(app=app, device_id="dev-r")
    m1 = MessageFactory(app=app)
    m2 = MessageFactory(app=app)
    ReceiptEventFactory(message=m1, device=dev, event="sent", at=now - timedelta(hours=3))
    ReceiptEventFactory(message=m1, device=dev, event="arrive", at=now - timedelta(hours=2))
    ReceiptEventFactory(message=m2, event="click", at=now - timedelta(hours=1))
    ReceiptEventFactory(message=MessageFactory(), event="click", at=now)  # another app
    c = client_for(auditor)

    def events(**params):
        return [e.event for e in c.get(_url(app, "receipt-log", **params)).context["page"].rows]

    assert events() == ["click", "arrive", "sent"]
    assert events(event="click") == ["click"]
    assert events(device_id="dev-r") == ["arrive", "sent"]
    assert events(message_id=m1.pk) == ["arrive", "sent"]
    local = timezone.localtime(now - timedelta(hours=2, minutes=30)).strftime("%Y-%m-%dT%H:%M")
    assert events(at_from=local) == ["click", "arrive"]
    bad = c.get(_url(app, "receipt-log", at_from=local, at_to="2000-01-01T00:00"))
    assert "The end must be after the start." in bad.content.decode()


def test_device_query_lists_recent_devices_before_any_search(app, other_app, auditor, client_for):
    from campaigns.models import Device

    c = client_for(auditor)
    empty = c.get(reverse("campaigns:device-query", kwargs={"app_key": app.app_key})).content.decode()
    assert "No device has registered with this app yet." in empty
    for i in range(25):
        Device.objects.create(app=app, device_id=f"d-{i:02d}", platform="android")
    Device.objects.create(app=other_app, device_id="theirs", platform="ios")
    response = c.get(reverse("campaigns:device-query", kwargs={"app_key": app.app_key}))
    ids = [d.device_id for d in response.context["recent"]]
    assert ids == [f"d-{i:02d}" for i in range(24, 4, -1)]  # the 20 newest, of this app only
    assert 'href="?device_id=d-24"' in response.content.decode()
    # A search shows that device, not the list.
    searched = c.get(reverse("campaigns:device-query", kwargs={"app_key": app.app_key}), {"device_id": "d-03"})
    assert "recent" not in searched.context and len(searched.context["reports"]) == 1
