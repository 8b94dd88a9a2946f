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
    now = timezone.now()
    task = PushTaskFactory(app=app, name="rec", push_type="SIMPLE")
    m = MessageFactory(app=app, task=task, target_type="user")
    for _i, (ch, acc, arr, clk, clr) in enumerate(
        [
            ("huawei", 1, 1, 1, 0),
            ("huawei", 1, 1, 0, 1),
            ("huawei", 1, 0, 0, 0),
            ("apns", 1, 1, 0, 0),
            ("apns", 0, 0, 0, 0),
        ]
    ):
        DeliveryFactory(
            message=m, device=DeviceFactory(app=app), channel=ch,
            accepted_at=now if acc else None, arrived_at=now if arr else None,
            clicked_at=now if clk else None, cleared_at=now if clr else None,
        )  # fmt: skip
    response = client_for(marketer).get(_url(app, "push-records"))
    (record,) = response.context["records"]
    assert record.target_types == ["User id"]  # the label people read, not the code
    stats = {c.channel: (c.sent, c.arrived, c.clicked, c.cleared) for c in record.channels}
    assert stats == {"huawei": (3, 2, 1, 1), "apns": (1, 1, 0, 0)}
    assert "<td>Huawei</td><td>3</td><td>2</td><td>1</td><td>1</td>" in response.content.decode()


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
