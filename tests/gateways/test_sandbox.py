"""The sandbox gateway: no server, configurable latency and failure rate."""

from __future__ import annotations

import datetime as dt
import uuid

from campaigns.gateways import GATEWAYS
from campaigns.gateways.base import OutgoingPush
from campaigns.gateways.sandbox import SandboxGateway


def push(token="t", push_id=None) -> OutgoingPush:
    return OutgoingPush(
        delivery_id=1,
        push_id=push_id or str(uuid.uuid4()),
        token=token,
        platform="android",
        title="T",
        body="B",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )


def test_registered():
    assert GATEWAYS["sandbox"] is SandboxGateway


def test_accepts_after_the_configured_latency(settings):
    settings.SANDBOX_GATEWAY_LATENCY_MS = 35
    settings.SANDBOX_GATEWAY_FAILURE_RATE = 0.0
    slept = []
    gateway = SandboxGateway(sleep=slept.append)
    results = gateway.send_batch([push(), push()])
    assert all(r.accepted and r.gateway_message_id.startswith("sandbox-") for r in results)
    assert slept == [0.035]


def test_deterministic_failure_rate_is_repeatable_per_push_id(settings):
    settings.SANDBOX_GATEWAY_LATENCY_MS = 0
    gateway = SandboxGateway(failure_rate=0.3, deterministic=True)
    pushes = [push() for _ in range(2000)]
    first = [r.accepted for r in gateway.send_batch(pushes)]
    again = [r.accepted for r in gateway.send_batch(pushes)]
    assert first == again
    failed = first.count(False) / len(first)
    assert 0.25 < failed < 0.35


def test_random_failure_rate_follows_the_setting(settings):
    settings.SANDBOX_GATEWAY_LATENCY_MS = 0
    settings.SANDBOX_GATEWAY_FAILURE_RATE = 1.0
    settings.SANDBOX_GATEWAY_DETERMINISTIC = False
    (result,) = SandboxGateway().send_batch([push()])
    assert not result.accepted and result.permanent and result.reason == "SandboxFailure"


def test_special_tokens_script_dead_and_transient_answers():
    gateway = SandboxGateway(latency_ms=0, failure_rate=0)
    dead, retry, ok = gateway.send_batch([push("dead-1"), push("retry-1"), push("ok")])
    assert dead.token_dead and dead.permanent and not dead.accepted
    assert not retry.permanent and retry.retry_after == 1.0
    assert ok.accepted
