"""Times are stored in UTC and shown, picked and bucketed in the viewer's own zone, which is named."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import PushTask, TaskStatus
from console.models import UserProfile

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def _send_data(send_at: str) -> dict:
    return {
        "target_type": "android_device",
        "targets": "dev-1",
        "customer_msg_id": "tz-1",
        "channel": "auto",
        "display_type": "notification",
        "display_style": "default",
        "title": "Hello",
        "body": "World",
        "click_action": "open_app",
        "url": "",
        "expire_seconds": "180",
        "extras": "",
        "send_at": send_at,
        "name": "",
        "idempotency_token": "tz-tok-1",
        "action": "submit",
    }


def test_send_at_nine_in_shanghai_is_one_utc_and_two_in_berlin(app, marketer, channel_admin, client_for):
    UserProfile.objects.filter(user=marketer).update(timezone="Asia/Shanghai")
    UserProfile.objects.filter(user=channel_admin).update(timezone="Europe/Berlin")
    # A winter day (Berlin on CET, UTC+1) within the 7-day scheduling window.
    day = timezone.now().astimezone(SHANGHAI).date() + timedelta(days=1)
    assert zoneinfo.ZoneInfo("Europe/Berlin").utcoffset(datetime.combine(day, time(2))) == timedelta(hours=1), (
        "this test needs a winter date"
    )
    shanghai = client_for(marketer)
    form_url = reverse("campaigns:send-simple", kwargs={"app_key": app.app_key})
    # The field says which zone it reads, with the offset.
    assert 'data-testid="picker-zone">(Asia/Shanghai, UTC+08:00)<' in shanghai.get(form_url).content.decode()
    response = shanghai.post(form_url, _send_data(f"{day.isoformat()} 09:00"))
    task = PushTask.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/send/tasks/{task.pk}/")
    assert task.status == TaskStatus.SCHEDULED
    assert task.scheduled_at == datetime.combine(day, time(1, 0), tzinfo=UTC)
    assert task.scheduled_at.tzinfo is not None and task.scheduled_at.utcoffset() == timedelta(0)

    task_url = response["Location"]
    # An offset, not "CST" (China and US Central both use it).
    assert f"{day.isoformat()} 09:00 (UTC+0800)" in shanghai.get(task_url).content.decode()
    berlin = client_for(channel_admin)
    html = berlin.get(task_url).content.decode()
    assert f"{day.isoformat()} 02:00 (UTC+0100)" in html
    assert "09:00" not in html.split("Scheduled for", 1)[1][:200]
    # The top bar names each viewer's zone; the send overview shows the same instant in each.
    assert "Europe/Berlin" in html
    index = reverse("campaigns:send", kwargs={"app_key": app.app_key})
    assert f"{day.isoformat()} 09:00 (UTC+0800)" in shanghai.get(index).content.decode()
    assert f"{day.isoformat()} 02:00 (UTC+0100)" in berlin.get(index).content.decode()


def test_send_at_in_the_past_of_the_viewers_zone_is_refused_and_nothing_is_saved(app, marketer, client_for):
    UserProfile.objects.filter(user=marketer).update(timezone="Asia/Shanghai")
    yesterday = timezone.now().astimezone(SHANGHAI) - timedelta(days=1)
    url = reverse("campaigns:send-simple", kwargs={"app_key": app.app_key})
    response = client_for(marketer).post(url, _send_data(yesterday.strftime("%Y-%m-%d %H:%M")))
    assert response.status_code == 200
    assert 'id="id_send_at_error"' in response.content.decode()
    assert not PushTask.objects.exists()
