"""HTTP/2 under faults, against the fake APNs: a timed-out stream is reset and frees its slot; a
connection that stops answering is replaced after repeated timeouts, or at once when an idle
connection does not answer a PING."""

from __future__ import annotations

import time

import pytest

from campaigns.gateways.apns import ApnsGateway
from campaigns.gateways.base import GatewayError
from console.models import ApnsCertificate
from tests.fakes.apns import Answer

from .test_apns import TOPIC, push

SLOW = "51" * 32
FAST = "f1" * 32


@pytest.fixture
def gateway(pki, fake_apns, settings):
    """One connection with one stream: a leaked slot would block every later request."""
    settings.GATEWAY_TIMEOUT = 0.5
    client = pki.client_cert(TOPIC)
    credential = ApnsCertificate(p12=client.p12, password=client.password, topic=TOPIC, environment="production")
    gateway = ApnsGateway(credential, connections=1, max_streams=1)
    yield gateway
    gateway.close()


def _timed_out(gateway, token) -> bool:
    """Send one push that gets no answer: a transient, retryable failure naming the timeout."""
    try:
        result = gateway.send(push(token))
    except GatewayError as error:
        return not error.permanent and "timeout" in error.reason
    return not result.accepted and not result.permanent and "timeout" in result.reason


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_a_timed_out_stream_is_reset_and_frees_its_slot(gateway, fake_apns):
    fake_apns.script[SLOW] = Answer(delay=3)
    assert _timed_out(gateway, SLOW)
    assert _wait(lambda: fake_apns.resets == 1), "the client reset the stream it gave up on"
    fast = gateway.send(push(FAST))  # the only stream slot is free again, same connection
    assert fast.accepted and fake_apns.connections == 1


def test_a_connection_that_stops_answering_is_replaced_after_repeated_timeouts(gateway, fake_apns, settings):
    settings.APNS_TIMEOUTS_BEFORE_RECONNECT = 2
    settings.APNS_PING_IDLE_SECONDS = 3600  # no PING here: only the timeouts tell
    assert gateway.send(push(FAST)).accepted
    fake_apns.stall()
    assert _timed_out(gateway, FAST) and _timed_out(gateway, FAST)
    assert gateway.send(push(FAST)).accepted, "the next request went over a new connection"
    assert fake_apns.connections == 2


def test_an_idle_connection_that_does_not_answer_a_ping_is_replaced_before_use(gateway, fake_apns, settings):
    settings.APNS_PING_IDLE_SECONDS = 0.2
    settings.APNS_PING_TIMEOUT = 0.3
    assert gateway.send(push(FAST)).accepted
    time.sleep(0.3)
    assert gateway.send(push(FAST)).accepted, "a live idle connection answers its PING and is kept"
    assert fake_apns.connections == 1
    fake_apns.stall()
    time.sleep(0.3)
    result = gateway.send(push(FAST))
    assert result.accepted, "no request timed out: the PING found the dead connection first"
    assert fake_apns.connections == 2
