"""OPPO Push: sha256-signed auth (auth_token valid 24 h), unicast or save_message_content + broadcast."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from django.conf import settings

from . import register
from .base import GatewayError, GatewayResult, OutgoingPush
from .common import (
    BatchGateway,
    TokenCache,
    http_error,
    int_code,
    json_body,
    per_token,
    seconds_to_next_vendor_day,
    ttl_seconds,
    vendor_secret,
)

INVALID_TOKEN = 10000
RETRY_CODES = {-2, -1}
RATE_CODES = {13, 55}  # rate limits: back off
RATE_BACKOFF_SECONDS = 60.0
NEXT_DAY_CODES = {33}  # daily limit: tomorrow
CONFIG_CODES = {14, 16, 28, 30}
TOKEN_INVALID = 11


def oppo_notification(push: OutgoingPush) -> dict[str, Any]:
    notification: dict[str, Any] = {
        "title": push.title,
        "content": push.body,
        "click_action_type": 2 if push.click_action == "open_url" and push.url else 0,
        "off_line": True,
        "off_line_ttl": ttl_seconds(push.expires_at),
        "action_parameters": json.dumps(dict(push.extras), ensure_ascii=False),
    }
    if notification["click_action_type"] == 2:
        notification["click_action_url"] = push.url
    if push.extras.get("channel_id"):
        notification["channel_id"] = push.extras["channel_id"]
    return notification


def _code(body: dict) -> int:
    try:
        return int(body.get("code", -99))
    except (TypeError, ValueError):
        return -99


@register
class OppoGateway(BatchGateway):
    code = "oppo"

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment, package_name=package_name)
        self.app_key = credential.vendor_app_key
        self.secret = vendor_secret(credential)
        self.tokens = TokenCache(self._fetch_token, margin=3600)

    def _url(self, path: str) -> str:
        return f"{settings.OPPO_URL.rstrip('/')}/server/v1/{path}"

    async def _fetch_token(self) -> tuple[str, float]:
        timestamp = str(int(time.time() * 1000))
        sign = hashlib.sha256(f"{self.app_key}{timestamp}{self.secret}".encode()).hexdigest()
        response = await self.client.post(
            self._url("auth"), data={"app_key": self.app_key, "timestamp": timestamp, "sign": sign}
        )
        body = json_body(response)
        error = http_error(response, str(body.get("message", "")), code=int_code(body.get("code")))
        if error is not None:
            raise error
        token = (body.get("data") or {}).get("auth_token") if _code(body) == 0 else None
        if not token:
            transient = _code(body) in RETRY_CODES | RATE_CODES
            raise GatewayError(
                200,
                not transient,
                f"auth: {body.get('message', '')}",
                code=_code(body),
                config_error=not transient,
            )
        return token, 24 * 3600

    async def _call(self, path: str, form: dict[str, str]) -> dict:
        """POST with auth_token; an invalid token (11) is refreshed once."""
        token = await self.tokens.get()
        for attempt in range(2):
            response = await self.client.post(self._url(path), data={**form, "auth_token": token})
            body = json_body(response)
            error = http_error(response, str(body.get("message", "")), code=int_code(body.get("code")))
            if error is not None:
                raise error
            if _code(body) == TOKEN_INVALID and attempt == 0:
                token = await self.tokens.get(refresh_from=token)
                continue
            return body
        return body

    def _raise(self, body: dict) -> None:
        code = _code(body)
        reason = str(body.get("message", ""))
        if code in CONFIG_CODES or code == TOKEN_INVALID:
            raise GatewayError(200, True, reason, code=code, config_error=True)
        if code in RETRY_CODES:
            raise GatewayError(200, False, reason, code=code)
        if code in RATE_CODES:
            raise GatewayError(200, False, reason, code=code, retry_after=RATE_BACKOFF_SECONDS)
        if code in NEXT_DAY_CODES:
            raise GatewayError(200, False, reason, code=code, retry_after=seconds_to_next_vendor_day())
        raise GatewayError(200, True, reason, code=code)

    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        notification = oppo_notification(pushes[0])
        if len(pushes) == 1:
            message = {"target_type": 2, "target_value": pushes[0].token, "notification": notification}
            body = await self._call(
                "message/notification/unicast", {"message": json.dumps(message, ensure_ascii=False)}
            )
            if _code(body) == INVALID_TOKEN:
                return per_token(pushes, {pushes[0].token}, code=INVALID_TOKEN, reason=str(body.get("message", "")))
            if _code(body) != 0:
                self._raise(body)
            return per_token(pushes, set(), message_id=str((body.get("data") or {}).get("messageId", "")))
        form = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in notification.items()}
        saved = await self._call("message/notification/save_message_content", form)
        if _code(saved) != 0:
            self._raise(saved)
        message_id = str((saved.get("data") or {}).get("message_id", ""))
        body = await self._call(
            "message/notification/broadcast",
            {"message_id": message_id, "target_type": "2", "target_value": ";".join(p.token for p in pushes)},
        )
        if _code(body) != 0:
            self._raise(body)
        dead, failed = set(), {}
        for key, entries in (body.get("data") or {}).items():
            if not str(key).lstrip("-").isdigit() or not isinstance(entries, list):
                continue
            for entry in entries:
                reg_id = entry.get("registration_id") or entry.get("target_value") if isinstance(entry, dict) else entry
                if int(key) == INVALID_TOKEN:
                    dead.add(str(reg_id))
                else:
                    failed[str(reg_id)] = (
                        int(key),
                        str(entry.get("error_message", "")) if isinstance(entry, dict) else "",
                    )
        return per_token(
            pushes, dead, message_id=message_id, code=INVALID_TOKEN, reason="Invalid RegistrationId", failed=failed
        )
