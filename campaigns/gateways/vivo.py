"""vivo Push: md5-signed auth, `authToken` header, send or saveListPayload + pushToList."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from django.conf import settings

from . import register
from .base import GatewayError, GatewayResult, OutgoingPush
from .common import (
    BatchGateway,
    TokenCache,
    cut,
    http_error,
    int_code,
    json_body,
    per_token,
    seconds_to_next_vendor_day,
    ttl_seconds,
    vendor_secret,
)

INVALID_REGID = 10302
AUTH_TOKEN_INVALID = 10000
APP_ID_MISMATCH = 10094  # the body's appId is not the app that logged in
DAILY_QUOTA = {10070, 10252, 10254}
RATE_LIMIT = {10093, 10250}  # auth calls too frequent (10093 in doc v2.9.4; 10250 in older docs)
RATE_BACKOFF_SECONDS = 10.0
TTL_MIN = 60
TTL_MAX = 86400  # vivo keeps a message at most one day (a longer timeToLive is cut to one day)
TITLE_MAX = 40
CONTENT_MAX = 100


def _is_config(code: int) -> bool:
    return 10200 <= code <= 10207


def vivo_content(push: OutgoingPush, app_id: str) -> dict[str, Any]:
    """The notification fields. Title, content and validity beyond vivo's limits are cut to them;
    the console and the API said so before sending (payloads.vendor_limit_notes)."""
    content: dict[str, Any] = {
        "appId": app_id,
        "notifyType": 4,
        "title": cut(push.title, TITLE_MAX),
        "content": cut(push.body, CONTENT_MAX),
        "timeToLive": max(TTL_MIN, min(ttl_seconds(push.expires_at), TTL_MAX)),
        "skipType": 2 if push.click_action == "open_url" and push.url else 1,
        "networkType": -1,
        "clientCustomMap": dict(push.extras),
        "requestId": uuid.uuid4().hex,
    }
    if content["skipType"] == 2:
        content["skipContent"] = push.url
    return content


def _result(body: dict) -> int:
    try:
        return int(body.get("result", -1))
    except (TypeError, ValueError):
        return -1


@register
class VivoGateway(BatchGateway):
    code = "vivo"

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment, package_name=package_name)
        self.app_id = credential.vendor_app_id
        self.app_key = credential.vendor_app_key
        self.secret = vendor_secret(credential)
        # valid one day; refreshed every hour or two as vivo recommends
        self.tokens = TokenCache(self._fetch_token, margin=0)

    def _url(self, path: str) -> str:
        return f"{settings.VIVO_URL.rstrip('/')}/message/{path}"

    async def _fetch_token(self) -> tuple[str, float]:
        timestamp = int(time.time() * 1000)
        sign = hashlib.md5(f"{self.app_id}{self.app_key}{timestamp}{self.secret}".encode()).hexdigest()
        response = await self.client.post(
            self._url("auth"), json={"appId": self.app_id, "appKey": self.app_key, "timestamp": timestamp, "sign": sign}
        )
        body = json_body(response)
        error = http_error(response, str(body.get("desc", "")), code=int_code(body.get("result")))
        if error is not None:
            raise error
        if _result(body) != 0 or not body.get("authToken"):
            code = _result(body)
            transient = code in RATE_LIMIT
            raise GatewayError(
                200,
                not transient,
                f"auth: {body.get('desc', '')}",
                code=code,
                config_error=not transient,
                retry_after=RATE_BACKOFF_SECONDS if transient else None,
            )
        return body["authToken"], 3600

    async def _call(self, path: str, payload: dict) -> dict:
        token = await self.tokens.get()
        for attempt in range(2):
            response = await self.client.post(self._url(path), json=payload, headers={"authToken": token})
            body = json_body(response)
            error = http_error(response, str(body.get("desc", "")), code=int_code(body.get("result")))
            if error is not None:
                raise error
            if _result(body) == AUTH_TOKEN_INVALID and attempt == 0:
                token = await self.tokens.get(refresh_from=token)
                continue
            return body
        return body

    def _raise(self, body: dict) -> None:
        code = _result(body)
        reason = str(body.get("desc", ""))
        if _is_config(code) or code in (AUTH_TOKEN_INVALID, APP_ID_MISMATCH):
            raise GatewayError(200, True, reason, code=code, config_error=True)
        if code in RATE_LIMIT:
            raise GatewayError(200, False, reason, code=code, retry_after=RATE_BACKOFF_SECONDS)
        if code in DAILY_QUOTA:
            # stop for the day; the engine does not keep a retry past the message's validity
            raise GatewayError(200, False, reason, code=code, retry_after=seconds_to_next_vendor_day())
        raise GatewayError(200, True, reason, code=code)

    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        content = vivo_content(pushes[0], self.app_id)
        if len(pushes) == 1:
            body = await self._call("send", {**content, "regId": pushes[0].token})
            if _result(body) == INVALID_REGID:
                return per_token(pushes, {pushes[0].token}, code=INVALID_REGID, reason=str(body.get("desc", "")))
            if _result(body) != 0:
                self._raise(body)
            return per_token(pushes, set(), message_id=str(body.get("taskId", "")))
        saved = await self._call("saveListPayload", content)
        if _result(saved) != 0:
            self._raise(saved)
        task_id = str(saved.get("taskId", ""))
        body = await self._call(
            "pushToList",
            {
                "appId": self.app_id,
                "regIds": [p.token for p in pushes],
                "taskId": task_id,
                "requestId": uuid.uuid4().hex,
            },
        )
        if _result(body) == INVALID_REGID:
            return per_token(pushes, {p.token for p in pushes}, code=INVALID_REGID, reason=str(body.get("desc", "")))
        if _result(body) != 0:
            self._raise(body)
        invalid = body.get("invalidUsers") or body.get("invalidUser") or []
        invalid = [invalid] if isinstance(invalid, dict) else invalid
        dead = {str(u.get("userid") or u.get("userId")) for u in invalid if isinstance(u, dict)}
        return per_token(pushes, dead, message_id=task_id, code=INVALID_REGID, reason="invalid regId")
