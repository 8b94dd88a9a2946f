"""Huawei Push Kit (HMS Core): OAuth client credentials, up to 1000 tokens per call."""

from __future__ import annotations

import json
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
    int_code,
    oauth_token,
    per_token,
    post_with_token,
    ttl_seconds,
    vendor_secret,
)
from .http import retry_after

SUCCESS = "80000000"
PARTIAL = "80100000"
ALL_INVALID = "80300007"
UNINSTALLED = "80000004"  # legacy / receipt code: the app was uninstalled
OAUTH_ERRORS = {"80200001", "80200003"}
CONFIG_CODES = {"80300002", "80300011", "80600003"}
RETRY_CODES = {"81000001", "80100017", "80100018"}


def _illegal_tokens(msg: str) -> set[str]:
    """80100000: the failed tokens are listed inside the `msg` JSON string, as `illegal_tokens` (v1)
    or `illegalTokens` (a list, or grouped by reason in the v3 API)."""
    try:
        detail = json.loads(msg)
    except (TypeError, ValueError):
        return set()
    if not isinstance(detail, dict):
        return set()
    tokens: set[str] = set()
    for key in ("illegal_tokens", "illegalTokens"):
        value = detail.get(key) or []
        groups = value.values() if isinstance(value, dict) else [value]
        for group in groups:
            if isinstance(group, list):
                tokens.update(str(t) for t in group)
            elif isinstance(group, str):
                tokens.add(group)
    return tokens


def huawei_message(pushes: list[OutgoingPush]) -> dict:
    push = pushes[0]
    android: dict[str, Any] = {"collapse_key": -1, "urgency": "HIGH", "ttl": f"{ttl_seconds(push.expires_at)}s"}
    data = payloads.android_data(push)
    if len(pushes) > 1:
        data.pop("pushId", None)  # one body for many devices: no per-device id
    if not push.silent:
        click = {"type": 2, "url": push.url} if push.click_action == "open_url" and push.url else {"type": 3}
        notification: dict[str, Any] = {"title": push.title, "body": push.body, "click_action": click}
        if push.image_url:
            notification["image"] = push.image_url
        if push.icon_url:
            notification["icon"] = push.icon_url
        android["notification"] = notification
    message = {"data": json.dumps(data, ensure_ascii=False), "android": android, "token": [p.token for p in pushes]}
    return {"validate_only": False, "message": message}


@register
class HuaweiGateway(BatchGateway):
    code = "huawei"

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment, package_name=package_name)
        self.app_id = credential.vendor_app_id
        self.secret = vendor_secret(credential)
        self.tokens = TokenCache(self._fetch_token)

    async def _fetch_token(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.app_id, "client_secret": self.secret}
        return await oauth_token(self.client, settings.HUAWEI_TOKEN_URL, form)

    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        url = f"{settings.HUAWEI_URL.rstrip('/')}/v1/{self.app_id}/messages:send"
        payload = huawei_message(pushes)
        response, body = await post_with_token(
            self.client,
            self.tokens,
            url,
            payload,
            headers=lambda token: {
                "authorization": f"Bearer {token}",
                "content-type": "application/json;charset=UTF-8",
            },
            refused=lambda body: str(body.get("code", "")) in OAUTH_ERRORS,
        )
        # Business errors come with HTTP 400, auth failures with 401 (some deployments answer 200):
        # the body's code decides whatever the HTTP status.
        code = str(body.get("code", "")).strip()
        numeric = int_code(code)
        reason = str(body.get("msg", "")) or code
        request_id = str(body.get("requestId", ""))
        status = response.status_code
        if code == SUCCESS:
            return per_token(pushes, set(), message_id=request_id)
        if code == PARTIAL:
            dead = _illegal_tokens(body.get("msg", ""))
            return per_token(pushes, dead, message_id=request_id, code=int(PARTIAL), reason="illegal token")
        if code in (ALL_INVALID, UNINSTALLED):
            return per_token(pushes, {p.token for p in pushes}, message_id=request_id, code=numeric, reason=reason)
        if code in RETRY_CODES:
            raise GatewayError(
                status, False, reason, code=numeric, retry_after=retry_after(response.headers.get("retry-after"))
            )
        if code in OAUTH_ERRORS or code in CONFIG_CODES:
            raise GatewayError(status, True, reason, code=numeric, config_error=True)
        # 503 flow control, 502, 429, 401 without a code: the HTTP status decides
        error = http_error(response, reason if code else "", code=numeric)
        raise error if error is not None else GatewayError(status, True, reason, code=numeric)
