"""Fixtures of the EMAS door tests: AccessKeys of each role, devices of every kind, the delivery fakes."""

from __future__ import annotations

import pytest

from campaigns.models import DeviceAlias, Tag
from tests.delivery.conftest import clean_broker, gateways, huawei_channel, make_device, pki  # noqa: F401

from .helpers import RawRpc, Sdks


@pytest.fixture
def sdks(live_server, marketer_key):
    return Sdks(live_server, marketer_key)


@pytest.fixture
def raw(client, marketer_key):
    return RawRpc(client, marketer_key)


@pytest.fixture
def fleet(app, gateways):  # noqa: F811 - the shared fixture
    """An iPhone (APNs) with an account and a tag, an Android phone on Huawei with an alias,
    and a plain Android phone: every target kind reaches a fake gateway."""
    app.approval_for_broadcast = False
    app.save(update_fields=["approval_for_broadcast"])
    huawei_channel(app)
    iphone = make_device(app, "iphone-1", platform="ios", account="acct-1")
    huawei = make_device(app, "huawei-1", vendor="huawei", vendor_token="ok-hw-1")
    plain = make_device(app, "plain-1")
    DeviceAlias.objects.create(app=app, device=huawei, alias="alias-1")
    Tag.objects.create(app=app, name="vip").devices.add(iphone)
    return {"iphone": iphone, "huawei": huawei, "plain": plain}
