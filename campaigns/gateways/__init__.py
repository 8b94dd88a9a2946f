"""Delivery gateways. `GATEWAYS` maps a channel code to its class: the only registry.

Channels: apns, fcm, huawei, xiaomi, oppo, vivo, honor, meizu, sandbox. Get one with
`factory.gateway_for(app, channel, package_name=...)` (cached per process, so connections and
access tokens are reused; sandbox apps always get the sandbox gateway).

Contract for callers (the delivery engine):
- `send_batch(pushes)` blocks and returns one GatewayResult per push, in order. It may be
  called from any thread except the gateway loop itself (coroutines there use
  `send_batch_async`). Batches of hundreds go out concurrently (APNs: HTTP/2 streams; the
  others: one call per group of pushes with the same content, <= 1000 tokens, or one call
  per push for FCM).
- It raises GatewayError only when nothing reached the service (connection refused, OAuth
  refused or down, a vendor call answered 413/429/5xx/auth error for the whole batch). When
  only some content groups fail, their pushes come back as results carrying the error.
- Result: `accepted` -> status 2 Acked; `token_dead` -> deactivate the device token;
  `permanent=False` -> retry after `retry_after` seconds (None: your backoff; a vendor's daily
  quota gives the time until its day starts again); `config_error` -> the credential is wrong,
  fail, alert and write it on the credential's health; `code` is the SPEC number (APNs 2011,
  FCM 90000003, vendor codes as reported, on 5xx too), `reason` the gateway's own text,
  `gateway_message_id` the vendor's id of the send (kept on the delivery).
- `batch_limit` (the JSON/form gateways): tokens per vendor request (1000; Meizu 100, FCM 1);
  the engine hands over whole requests (dispatch.engine_batch_size).
- GatewayError has the same fields (`status`, `permanent`, `reason`, `code`, `retry_after`,
  `config_error`).
"""

from __future__ import annotations

from .base import Gateway, GatewayError, GatewayResult, OutgoingPush

GATEWAYS: dict[str, type[Gateway]] = {}


def register(cls: type[Gateway]) -> type[Gateway]:
    GATEWAYS[cls.code] = cls
    return cls


__all__ = ["GATEWAYS", "Gateway", "GatewayError", "GatewayResult", "OutgoingPush", "register"]


# Import every channel so the registry is complete (they call `register` above).
from . import apns, fcm, honor, huawei, meizu, oppo, sandbox, vivo, xiaomi  # noqa: E402, F401
