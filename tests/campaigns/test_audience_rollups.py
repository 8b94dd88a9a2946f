from datetime import UTC, datetime, timedelta

import pytest

from campaigns.audience import audience_size, devices_for
from campaigns.codes import ApiCode, PushError
from campaigns.models import Device, DeviceAlias, Tag, UsageRollup, UserBinding
from campaigns.rollups import rollup_add


@pytest.fixture
def devices(app):
    now = datetime(2026, 11, 1, tzinfo=UTC)
    a = Device.objects.create(app=app, device_id="a", platform="android", account="acc1")
    b = Device.objects.create(
        app=app, device_id="b", platform="ios", account="acc1", logged_in=False, logged_out_at=now - timedelta(days=10)
    )
    c = Device.objects.create(
        app=app, device_id="c", platform="ios", logged_in=False, logged_out_at=now - timedelta(days=30)
    )
    UserBinding.objects.create(app=app, user_id="u1", device=a)
    UserBinding.objects.create(app=app, user_id="u1", device=b)
    DeviceAlias.objects.create(app=app, device=c, alias="vip")
    vip, news = Tag.objects.create(app=app, name="vip"), Tag.objects.create(app=app, name="news")
    vip.devices.add(a, b)
    news.devices.add(b, c)
    return now, a, b, c


def ids(qs):
    return sorted(d.device_id for d in qs)


def test_targets_resolve_to_devices(app, devices):
    now = devices[0]
    assert ids(devices_for(app=app, target_type="user", target_ids=["u1"])) == ["a", "b"]
    assert ids(devices_for(app=app, target_type="ios_device", target_ids=["a", "b"])) == ["b"]
    assert ids(devices_for(app=app, target_type="account", target_ids=["acc1"])) == ["a", "b"]
    assert ids(devices_for(app=app, target_type="alias", target_ids=["vip"])) == ["c"]
    assert ids(devices_for(app=app, target_type="tag", tag_expression={"and": ["vip", "news"]})) == ["b"]
    assert ids(devices_for(app=app, target_type="tag", tag_expression={"or": ["vip", "news"]})) == ["a", "b", "c"]
    assert ids(devices_for(app=app, target_type="tag", tag_expression={"and": ["news", {"not": "vip"}]})) == ["c"]
    assert ids(devices_for(app=app, target_type="all", platform="ios", unbind_period=1, now=now)) == []
    assert ids(devices_for(app=app, target_type="all", platform="ios", unbind_period=3, now=now)) == ["b"]
    assert ids(devices_for(app=app, target_type="all", platform="ios", unbind_period=5, now=now)) == ["b", "c"]
    assert audience_size(app=app, target_type="user", target_ids=["nobody"]) == 0


def test_bad_tag_expression_and_period_are_refused(app, devices):
    with pytest.raises(PushError) as err:
        devices_for(app=app, target_type="tag", tag_expression={"xor": ["a"]})
    assert err.value.code == ApiCode.INVALID_PARAM
    with pytest.raises(PushError) as err:
        devices_for(app=app, target_type="all", unbind_period=9)
    assert err.value.code == ApiCode.BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID


def test_rollups_add_up_in_minute_and_hour_buckets(app):
    at = datetime(2026, 11, 1, 10, 15, 42, tzinfo=UTC)
    rollup_add(app_id=app.pk, at=at, platform="ios", channel="apns", push_type="SIMPLE", pushed=1)
    rollup_add(
        app_id=app.pk,
        at=at + timedelta(minutes=1),
        platform="ios",
        channel="apns",
        push_type="SIMPLE",
        pushed=2,
        arrived=1,
    )
    minutes = UsageRollup.objects.filter(app=app, granularity="minute").order_by("bucket")
    assert [(r.bucket.minute, r.pushed, r.arrived) for r in minutes] == [(15, 1, 0), (16, 2, 1)]
    hour = UsageRollup.objects.get(app=app, granularity="hour")
    assert (hour.bucket, hour.pushed, hour.arrived) == (datetime(2026, 11, 1, 10, tzinfo=UTC), 3, 1)
    with pytest.raises(ValueError):
        rollup_add(app_id=app.pk, at=at, bogus=1)
