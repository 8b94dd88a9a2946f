from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Message
from campaigns.reports.selectors import encode_cursor, message_list
from tests.factories_campaigns import (
    DeliveryFactory,
    DeviceFactory,
    MessageFactory,
    PushTaskFactory,
    StatusEventFactory,
)

pytestmark = pytest.mark.django_db


def _url(app, **params):
    from urllib.parse import urlencode

    return reverse("campaigns:message-list", kwargs={"app_key": app.app_key}) + (
        "?" + urlencode(params) if params else ""
    )


def _ids(response):
    return [m.customer_msg_id for m in response.context["page"].rows]


def test_newest_first_last_30_days_and_multiple_and_broadcast_hidden(app, auditor, client_for):
    now = timezone.now()
    old = MessageFactory(app=app, customer_msg_id="old", created_at=now - timedelta(days=31))
    a = MessageFactory(app=app, customer_msg_id="a", created_at=now - timedelta(hours=2))
    b = MessageFactory(app=app, customer_msg_id="b", created_at=now - timedelta(hours=1))
    multi_task = PushTaskFactory(app=app, push_type="MULTIPLE")
    MessageFactory(app=app, task=multi_task, push_type="MULTIPLE", customer_msg_id="multi", target_id="t-multi")
    MessageFactory(app=app, push_type="BROADCAST", target_type="all", customer_msg_id="bc")
    response = client_for(auditor).get(_url(app))
    assert response.status_code == 200
    assert _ids(response) == ["b", "a"]
    # Rows show the customer message id as <code>; other text on the page may contain "old".
    assert f"<code>{a.customer_msg_id}</code>" in response.content.decode()
    assert f"<code>{old.customer_msg_id}</code>" not in response.content.decode()
    assert a.created_at.strftime("%Y-%m-%d %H:%M:%S") in response.content.decode()
    assert b.title in response.content.decode()


def test_search_by_exact_target_id_and_customer_msg_id_finds_multiple(app, auditor, client_for):
    multi_task = PushTaskFactory(app=app, push_type="MULTIPLE")
    MessageFactory(app=app, task=multi_task, push_type="MULTIPLE", customer_msg_id="multi-1", target_id="user-42")
    MessageFactory(app=app, customer_msg_id="single", target_id="user-42")
    MessageFactory(app=app, customer_msg_id="other", target_id="user-420")
    MessageFactory(app=app, push_type="BROADCAST", customer_msg_id="bc-1", target_id="user-42")
    c = client_for(auditor)
    assert sorted(_ids(c.get(_url(app, target_id="user-42")))) == ["multi-1", "single"]
    assert _ids(c.get(_url(app, customer_msg_id="multi-1"))) == ["multi-1"]
    assert _ids(c.get(_url(app, customer_msg_id="multi"))) == []  # exact, not a prefix
    assert _ids(c.get(_url(app, customer_msg_id="bc-1"))) == []  # broadcasts live in the task list


def test_filters_status_channel_push_type_and_date(app, marketer, client_for):
    now = timezone.now()
    MessageFactory(app=app, customer_msg_id="acc-hw", state="accepted", channel="huawei", push_type="SIMPLE")
    MessageFactory(app=app, customer_msg_id="exp-xm", state="expired", channel="xiaomi", push_type="TEMPLATE")
    MessageFactory(app=app, customer_msg_id="yesterday", created_at=now - timedelta(days=1, hours=1))
    multi_task = PushTaskFactory(app=app, push_type="MULTIPLE")
    MessageFactory(app=app, task=multi_task, push_type="MULTIPLE", customer_msg_id="multi")
    c = client_for(marketer)
    assert _ids(c.get(_url(app, state="expired"))) == ["exp-xm"]
    assert _ids(c.get(_url(app, channel="huawei", state="accepted"))) == ["acc-hw"]
    assert _ids(c.get(_url(app, push_type="TEMPLATE"))) == ["exp-xm"]
    assert _ids(c.get(_url(app, push_type="MULTIPLE"))) == ["multi"]
    day = timezone.localdate(now - timedelta(days=1, hours=1))
    assert _ids(c.get(_url(app, day=day.isoformat()))) == ["yesterday"]


def test_bad_filters_get_a_message_and_no_error(app, marketer, client_for):
    MessageFactory(app=app, customer_msg_id="x")
    response = client_for(marketer).get(_url(app, state="nonsense", day="2001-01-01", cursor="garbage!!"))
    assert response.status_code == 200
    assert response.context["form"].errors["state"]
    assert "last 30 days" in str(response.context["form"].errors["day"])
    assert "Some filters are not valid" in response.content.decode()


def test_keyset_pages_cover_every_row_once_without_offset(app, django_assert_max_num_queries):
    now = timezone.now()
    same = now - timedelta(minutes=5)
    for i in range(25):
        # Several rows share a timestamp: the id breaks the tie.
        MessageFactory(
            app=app, customer_msg_id=f"m{i:02d}", created_at=same if i % 3 == 0 else now - timedelta(seconds=i)
        )
    seen, cursor = [], ""
    while True:
        page = message_list(app=app, cursor=cursor, size=7)
        seen += [m.customer_msg_id for m in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(f"m{i:02d}" for i in range(25))
    assert len(seen) == len(set(seen))
    ordered = list(
        Message.objects.filter(app=app).order_by("-created_at", "-id").values_list("customer_msg_id", flat=True)
    )
    assert seen == ordered
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    last = Message.objects.filter(app=app).order_by("-created_at", "-id")[10]
    with CaptureQueriesContext(connection) as ctx:
        message_list(app=app, cursor=encode_cursor(last.created_at, last.pk), size=7)
    assert "OFFSET" not in ctx.captured_queries[0]["sql"].upper()


def test_expanding_a_row_shows_status_expiry_and_timeline_with_gateway_codes(app, marketer, other_app, client_for):
    message = MessageFactory(app=app, status=2, status_desc="accepted by gateway", state="accepted")
    device = DeviceFactory(app=app, device_id="ios-token-1", platform="ios")
    delivery = DeliveryFactory(message=message, device=device, channel="apns", gateway_code=2011, state="failed")
    StatusEventFactory(message=message, state="queued", status=0, description="queued")
    StatusEventFactory(
        message=message, delivery=delivery, state="failed", status=2011, description="Unregistered", channel="apns"
    )
    c = client_for(marketer)
    url = reverse("campaigns:message-detail", kwargs={"app_key": app.app_key, "message_id": message.pk})
    response = c.get(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert str(message.pk) in html
    assert "Acknowledged (device acked or gateway accepted)" in html
    assert message.expires_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert "<code>2011</code> Unregistered" in html
    assert "ios-token-1" in html
    foreign = MessageFactory(app=other_app)
    url = reverse("campaigns:message-detail", kwargs={"app_key": app.app_key, "message_id": foreign.pk})
    assert c.get(url).status_code == 404


def test_the_detail_names_each_deliverys_channel_and_channel_package(app, auditor, client_for):
    message = MessageFactory(app=app, state="accepted")
    lite = DeviceFactory(app=app, device_id="hw-lite", package_name=f"{app.android_package}.lite")
    main = DeviceFactory(app=app, device_id="hw-main", package_name="")
    ios = DeviceFactory(app=app, device_id="ios-1", platform="ios")
    DeliveryFactory(message=message, device=lite, channel="huawei", state="accepted")
    DeliveryFactory(message=message, device=main, channel="xiaomi", state="failed")
    DeliveryFactory(message=message, device=ios, channel="apns", state="accepted")
    url = reverse("campaigns:message-detail", kwargs={"app_key": app.app_key, "message_id": message.pk})
    html = client_for(auditor).get(url).content.decode()
    import re

    table = re.search(r'<table data-testid="delivery-routes">(.*?)</table>', html, re.S).group(1)
    rows = [re.sub(r"<[^>]+>", "", r).split("\n")[0] for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]]
    assert rows == [
        f"hw-liteHuawei{app.android_package}.liteAccepted",
        f"hw-mainXiaomi{app.android_package}Failed",
        "ios-1APNs—Accepted",
    ]
