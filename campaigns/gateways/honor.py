"""Honor Push: OAuth client credentials, sendMessage with up to 1000 tokens."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings

# payloads imports this package: use it through the module, resolved at call time
from .. import payloads
from . import register
from .base import GatewayError, GatewayResult, OutgoingPush
from .common import (
    BatchGateway,
    TokenCache,
    http_error,
    oauth_token,
    per_token,
    post_with_token,
    ttl_seconds,
    vendor_secret,
)

OAUTH_ERRORS = {80200001, 80200003}
ALL_INVALID = {80300007}
INVALID_TOKEN = 80300007
RETRY_CODES = {81000001, 80000002}


def honor_message(pushes: list[OutgoingPush]) -> dict:
    push = pushes[0]
    data = payloads.android_data(push)
    if len(pushes) > 1:
        data.pop("pushId", None)
    message: dict[str, Any] = {"data": json.dumps(data, ensure_ascii=False), "token": [p.token for p in pushes]}
    android: dict[str, Any] = {"ttl": f"{ttl_seconds(push.expires_at)}s"}
    if not push.silent:
        click = {"type": 2, "url": push.url} if push.click_action == "open_url" and push.url else {"type": 3}
        message["notification"] = {"title": push.title, "body": push.body}
        android["notification"] = {"title": push.title, "body": push.body, "clickAction": click}
    message["android"] = android
    return message


def _code(body: dict) -> int:
    try:
        return int(body.get("code", -1))
    except (TypeError, ValueError):
        return -1


@register
class HonorGateway(BatchGateway):
    code = "honor"

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment, package_name=package_name)
        self.app_id = credential.vendor_app_id
        # Honor's console issues a client id besides the app id; without one the app id is used.
        self.client_id = credential.vendor_app_key or credential.vendor_app_id
        self.secret = vendor_secret(credential)
        self.tokens = TokenCache(self._fetch_token)

    async def _fetch_token(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret}
        return await oauth_token(self.client, settings.HONOR_TOKEN_URL, form)

    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        url = f"{settings.HONOR_URL.rstrip('/')}/api/v1/{self.app_id}/sendMessage"
        payload = honor_message(pushes)
        response, body = await post_with_token(
            self.client,
            self.tokens,
            url,
            payload,
            headers=lambda token: {"authorization": f"Bearer {token}", "timestamp": str(int(time.time() * 1000))},
            refused=lambda body: _code(body) in OAUTH_ERRORS,
        )
        code = _code(body)
        reason = str(body.get("message", ""))
        error = http_error(response, reason, code=None if code == -1 else code)
        if error is not None:
            raise error
        status = response.status_code
        if code == 200:
            # Accepted: `data.sendResult`, `data.requestId`; per-token refusals in failTokens / expireTokens.
            data = body.get("data") or {}
            dead: dict[str, tuple[int | None, str]] = {}
            for t in data.get("failTokens") or []:
                dead[str(t)] = (INVALID_TOKEN, "token invalid")
            for t in data.get("expireTokens") or []:
                dead[str(t)] = (INVALID_TOKEN, "token expired")
            return per_token(pushes, dead, message_id=str(data.get("requestId", "")))
        if code in ALL_INVALID:
            return per_token(pushes, {p.token for p in pushes}, code=code, reason=reason)
        if code in OAUTH_ERRORS:
            raise GatewayError(status, True, reason, code=code, config_error=True)
        if code in RETRY_CODES:
            raise GatewayError(status, False, reason, code=code)
        raise GatewayError(status, True, reason, code=None if code == -1 else code)
