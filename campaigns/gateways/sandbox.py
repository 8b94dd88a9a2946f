"""The sandbox gateway (demo apps): no server; accepts after a latency, fails a share of pushes."""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from . import register
from .base import Gateway, GatewayResult, OutgoingPush


@register
class SandboxGateway(Gateway):
    """Tokens starting with "dead-" answer token_dead, "retry-" a transient error (for demos and tests)."""

    code = "sandbox"

    def __init__(
        self,
        credential: Any = None,
        *,
        environment: str = "",
        latency_ms: int | None = None,
        failure_rate: float | None = None,
        deterministic: bool | None = None,
        sleep=time.sleep,
    ):
        super().__init__(credential, environment=environment)
        self.latency_ms = settings.SANDBOX_GATEWAY_LATENCY_MS if latency_ms is None else latency_ms
        self.failure_rate = settings.SANDBOX_GATEWAY_FAILURE_RATE if failure_rate is None else failure_rate
        self.deterministic = settings.SANDBOX_GATEWAY_DETERMINISTIC if deterministic is None else deterministic
        self.sleep = sleep
        self.sent = 0

    def _fails(self, push: OutgoingPush) -> bool:
        if self.failure_rate <= 0:
            return False
        if self.deterministic:
            # the same push id always gets the same answer, also on a re-send
            bucket = int.from_bytes(hashlib.sha256(push.push_id.encode()).digest()[:8], "big") / 2**64
            return bucket < self.failure_rate
        return random.random() < self.failure_rate  # noqa: S311 - simulated failures, not security

    def send_batch(self, pushes: Sequence[OutgoingPush]) -> list[GatewayResult]:
        if self.latency_ms > 0 and pushes:
            self.sleep(self.latency_ms / 1000)
        results = []
        for push in pushes:
            self.sent += 1
            if push.token.startswith("dead-"):
                results.append(GatewayResult(accepted=False, reason="SandboxUnregistered", token_dead=True))
            elif push.token.startswith("retry-"):
                results.append(
                    GatewayResult(accepted=False, reason="SandboxUnavailable", permanent=False, retry_after=1.0)
                )
            elif self._fails(push):
                results.append(GatewayResult(accepted=False, reason="SandboxFailure", permanent=True))
            else:
                results.append(GatewayResult(accepted=True, gateway_message_id=f"sandbox-{uuid.uuid4()}"))
        return results
