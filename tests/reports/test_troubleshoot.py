import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import StatusEvent
from campaigns.reports import selectors
from campaigns.reports.diagnosis import troubleshoot
from console.models import ApnsCertificate, ChannelPackage, VendorChannel
from tests.factories_campaigns import DeliveryFactory, DeviceFactory, MessageFactory, StatusEventFactory

pytestmark = pytest.mark.django_db


def _vendor_on(app, vendor="huawei"):
    package, _created = ChannelPackage.objects.get_or_create(app=app, package_name=app.android_package)
    VendorChannel.objects.create(app=app, package=package, vendor=vendor, enabled=True)


def test_unknown_message_and_unknown_device(app):
    assert troubleshoot(app=app, message_ref="nope").kinds == ["message_unknown"]
    m = MessageFactory(app=app, customer_msg_id="cm-1")
    assert troubleshoot(app=app, message_ref="cm-1", device_id="ghost").kinds == ["device_unknown"]
    assert troubleshoot(app=app, message_ref=str(m.pk)).message == m


def test_dead_token(app):
    _vendor_on(app)
    m = MessageFactory(app=app)
    dev = DeviceFactory(app=app, token_dead_at=timezone.now(), token_dead_reason="80000004 app uninstalled")
    DeliveryFactory(message=m, device=dev, state="failed", channel="huawei")
    d = troubleshoot(app=app, message_ref=m.customer_msg_id, device_id=dev.device_id)
    assert d.kinds == ["token_dead"]
    assert "app uninstalled" in " ".join(d.findings[0].evidence)


def test_wrong_apns_environment(app):
    now = timezone.now()
    ApnsCertificate.objects.create(
        app=app, environment="production", topic="com.example", subject="s", issuer="i", serial="1",
        not_before=now - timedelta(days=1), not_after=now + timedelta(days=300), fingerprint="f", is_active=True,
        p12=b"not-a-real-p12", password="x",
    )  # fmt: skip
    m = MessageFactory(app=app, platform="ios", channel="apns")
    dev = DeviceFactory(app=app, platform="ios", vendor="")
    DeliveryFactory(message=m, device=dev, channel="apns", state="failed", gateway_code=2013)
    d = troubleshoot(app=app, message_ref=m.customer_msg_id)
    assert d.kinds == ["apns_environment"]
    evidence = " ".join(d.findings[0].evidence)
    assert "2013" in evidence and "environment production" in evidence


def test_channel_not_configured(app):
    m = MessageFactory(app=app)
    DeliveryFactory(message=m, device=DeviceFactory(app=app), channel="xiaomi", state="failed")
    assert troubleshoot(app=app, message_ref=m.customer_msg_id).kinds == ["channel_not_configured"]


def test_expired_before_device_came_online(app):
    now = timezone.now()
    m = MessageFactory(
        app=app, created_at=now - timedelta(hours=2), expires_at=now - timedelta(hours=1), channel="selfbuilt"
    )
    dev = DeviceFactory(app=app, vendor="", last_seen_at=now - timedelta(minutes=5))
    DeliveryFactory(message=m, device=dev, channel="selfbuilt", state="expired")
    d = troubleshoot(app=app, message_ref=m.customer_msg_id)
    assert d.kinds == ["expired"]
    assert "before the device came online" in d.findings[0].text


def test_gateway_error_with_code_and_timeline(app, marketer, client_for):
    _vendor_on(app, "oppo")
    m = MessageFactory(app=app, channel="oppo")
    dev = DeviceFactory(app=app, vendor="oppo")
    delivery = DeliveryFactory(message=m, device=dev, channel="oppo", state="failed", gateway_code=10000)
    StatusEventFactory(message=m, delivery=delivery, state="failed", status=10000, channel="oppo")
    url = reverse("campaigns:troubleshoot", kwargs={"app_key": app.app_key})
    html = client_for(marketer).get(url, {"message_ref": m.customer_msg_id}).content.decode()
    assert 'data-kind="gateway_error"' in html
    assert "code 10000 (invalid registration id)" in html
    assert "<code>10000</code> invalid registration id" in html  # timeline row


def test_no_binding_and_not_targeted(app, marketer, client_for):
    m = MessageFactory(app=app, target_type="user", target_id="bob", status=1, state="failed")
    assert troubleshoot(app=app, message_ref=m.customer_msg_id).kinds == ["no_binding"]
    other = DeviceFactory(app=app)
    assert troubleshoot(app=app, message_ref=m.customer_msg_id, device_id=other.device_id).kinds == ["not_targeted"]
    url = reverse("campaigns:troubleshoot", kwargs={"app_key": app.app_key})
    response = client_for(marketer).get(url, {"message_ref": ""})
    assert response.context["form"].errors["message_ref"]


def _broadcast_with_timeline(app, devices: int):
    m = MessageFactory(app=app, channel="huawei")
    dev = None
    for i in range(devices):
        dev = DeviceFactory(app=app, vendor="huawei")
        delivery = DeliveryFactory(
            message=m, device=dev, channel="huawei", state="accepted", gateway_message_id=f"hw-{i}"
        )
        StatusEventFactory(message=m, delivery=delivery, state="accepted", status=2, channel="huawei")
    return m, dev.device_id


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured.captured_queries)


def test_a_broadcast_page_reads_the_same_number_of_rows_for_3_devices_as_for_40(app, marketer, client_for):
    """The message detail and the troubleshooter of a broadcast read its timeline in a fixed
    number of queries, whatever the number of devices (no query per timeline row)."""
    _vendor_on(app)
    client = client_for(marketer)
    counts = []
    for devices in (3, 40):
        m, last_device = _broadcast_with_timeline(app, devices)
        detail = reverse("campaigns:message-detail", kwargs={"app_key": app.app_key, "message_id": m.pk})
        shoot = reverse("campaigns:troubleshoot", kwargs={"app_key": app.app_key})
        html = client.get(detail).content.decode()
        assert f"<code>{last_device}</code>" in html and "hw-0" in html  # the whole timeline is shown
        counts.append((_queries(client, detail), _queries(client, shoot, {"message_ref": m.pk})))
    assert counts[0] == counts[1]


def test_the_message_detail_reads_a_broadcasts_first_deliveries_in_index_order(app):
    """The routes and vendor ids of a broadcast's detail walk the (message, device) index and stop
    after a few rows: no sort over, or scan of, millions of deliveries."""
    m, _last = _broadcast_with_timeline(app, 3)
    with CaptureQueriesContext(connection) as captured:
        assert selectors.vendor_message_ids(message=m)
        assert len(selectors.delivery_routes(message=m)) == 3
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # until the test's transaction ends
        cursor.execute("SET LOCAL enable_sort = off")
        for query in captured.captured_queries:
            assert "campaigns_delivery" in query["sql"]
            cursor.execute("EXPLAIN " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "delivery_unique_message_device" in plan and "Sort" not in plan, plan


def _long_timeline(message, events: int):
    """`events` message-level events, two to a second (the order is by time, then by id)."""
    t0 = timezone.now() - timedelta(hours=1)
    StatusEvent.objects.bulk_create(
        StatusEvent(
            message=message, at=t0 + timedelta(seconds=i // 2), state="waiting", status=0, description=f"step {i:03d}"
        )
        for i in range(events)
    )


def test_a_long_timeline_comes_a_page_at_a_time_and_shows_every_event_once(app, marketer, client_for):
    m = MessageFactory(app=app)
    _long_timeline(m, 250)
    c = client_for(marketer)
    detail = reverse("campaigns:message-detail", kwargs={"app_key": app.app_key, "message_id": m.pk})
    html = c.get(detail).content.decode()
    seen = re.findall(r"step \d{3}", html)
    assert len(seen) == selectors.TIMELINE_PAGE
    pages = 1
    while match := re.search(r'data-testid="timeline-more"><td colspan="7"><a href="([^"]+)"', html):
        html = c.get(unescape(match.group(1)), HTTP_HX_REQUEST="true").content.decode()
        assert "<table" not in html  # rows for the open table, not a page
        seen += re.findall(r"step \d{3}", html)
        pages += 1
    assert seen == [f"step {i:03d}" for i in range(250)] and pages == 3
    assert "No later events." in html  # the last page says so
    # Opened without htmx (a link opened in a new tab), the next page is a page of its own.
    first = c.get(detail).content.decode()
    more = unescape(re.search(r'data-testid="timeline-more"><td colspan="7"><a href="([^"]+)"', first).group(1))
    page = c.get(more).content.decode()
    assert "later status events" in page and "step 100" in page and "step 099" not in page


def test_the_next_timeline_page_is_for_members_of_the_messages_app_only(app, marketer, outsider, other_app, client_for):
    m = MessageFactory(app=app)
    _long_timeline(m, 3)
    url = reverse("campaigns:message-timeline", kwargs={"app_key": app.app_key, "message_id": m.pk})
    assert client_for(marketer).get(url).status_code == 200
    assert client_for(outsider).get(url).status_code in (403, 404)
    foreign = MessageFactory(app=other_app)
    url = reverse("campaigns:message-timeline", kwargs={"app_key": app.app_key, "message_id": foreign.pk})
    assert client_for(marketer).get(url).status_code == 404
    # A cursor that is not ours is the first page, not an error; so is a device the app does
    # not know: the message's own events only.
    own_url = url.replace(str(foreign.pk), str(m.pk))
    assert client_for(marketer).get(own_url, {"cursor": "%%bad"}).status_code == 200
    html = client_for(marketer).get(own_url, {"device_id": "ghost" * 40}).content.decode()
    assert "step 000" in html and "step 002" in html


def test_troubleshooting_one_device_of_a_broadcast_shows_its_events_and_the_messages_own(app, marketer, client_for):
    _vendor_on(app)
    m, last_device = _broadcast_with_timeline(app, 3)
    StatusEventFactory(message=m, state="waiting", status=0, description="message created")
    first_device = m.deliveries.order_by("pk").first().device.device_id
    url = reverse("campaigns:troubleshoot", kwargs={"app_key": app.app_key})
    html = client_for(marketer).get(url, {"message_ref": m.pk, "device_id": first_device}).content.decode()
    timeline = html[html.index('data-testid="status-timeline"') :]
    assert f"<code>{first_device}</code>" in timeline and "message created" in timeline
    assert f"<code>{last_device}</code>" not in timeline
    # Whole, the troubleshooter shows every device's events.
    html = client_for(marketer).get(url, {"message_ref": m.pk}).content.decode()
    assert f"<code>{last_device}</code>" in html[html.index('data-testid="status-timeline"') :]


def test_one_devices_timeline_pages_on_and_reads_by_index(app):
    m = MessageFactory(app=app)
    _long_timeline(m, 5)
    delivery = DeliveryFactory(message=m, device=DeviceFactory(app=app), channel="huawei", state="accepted")
    other = DeliveryFactory(message=m, device=DeviceFactory(app=app), channel="huawei", state="accepted")
    for d in (delivery, other):
        StatusEventFactory(message=m, delivery=d, state="accepted", status=2, description=f"sent {d.pk}")
    with CaptureQueriesContext(connection) as captured:
        first = selectors.device_timeline(message=m, delivery=delivery, size=4)
    second = selectors.device_timeline(message=m, delivery=delivery, cursor=first.next_cursor, size=4)
    shown = [e.description for e in first.rows + second.rows]
    assert shown == [f"step {i:03d}" for i in range(5)] + [f"sent {delivery.pk}"]
    assert first.next_cursor and not second.next_cursor
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for query in captured.captured_queries:
            if "campaigns_statusevent" in query["sql"]:
                cursor.execute("EXPLAIN " + query["sql"])
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert "statusevent_message_level" in plans[0], plans[0]
    assert "statusevent_delivery_id" in plans[1] or "delivery_id_" in plans[1], plans[1]
