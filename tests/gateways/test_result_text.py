"""A gateway's answer is recorded whatever bytes its texts carry."""

from __future__ import annotations

import pytest

from campaigns.delivery import status
from campaigns.gateways.base import GatewayError, GatewayResult
from campaigns.models import Delivery, StatusEvent
from tests.factories_campaigns import DeliveryFactory


def test_a_nul_in_a_gateway_text_is_replaced_and_the_rest_kept():
    result = GatewayResult(accepted=False, code=2011, reason="Bad\x00DeviceToken", gateway_message_id="id\x00-1")
    assert (result.reason, result.gateway_message_id) == ("Bad\ufffdDeviceToken", "id\ufffd-1")
    failed = GatewayResult.from_error(GatewayError(500, False, "Internal\x00Error"))
    assert failed.reason == "Internal\ufffdError"
    assert GatewayResult(accepted=True, reason="Success 'quoted' \\ {x,y}").reason == "Success 'quoted' \\ {x,y}"


@pytest.mark.django_db
def test_a_delivery_refused_with_such_a_text_is_recorded(app):
    """PostgreSQL text cannot hold NUL: before, recording this answer failed, and so did every retry."""
    delivery = DeliveryFactory(message__app=app)
    result = GatewayResult(accepted=False, code=2011, reason="Bad\x00DeviceToken", gateway_message_id="\x00")
    outcome = status.Outcome(
        delivery.pk, "failed", 2011, result.code, result.reason, message_id=result.gateway_message_id
    )
    assert status.deliveries_record([outcome]) == 1
    delivery = Delivery.objects.get(pk=delivery.pk)
    assert (delivery.state, delivery.gateway_reason) == ("failed", "Bad\ufffdDeviceToken")
    assert StatusEvent.objects.filter(delivery=delivery, description__contains="Bad\ufffdDeviceToken").exists()
