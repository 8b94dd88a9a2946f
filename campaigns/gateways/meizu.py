"""Meizu Push: pushByPushId, form fields signed with md5 over the sorted fields + AppSecret."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings

from . import register
from .base import GatewayError, GatewayResult, OutgoingPush
from .common import BatchGateway, http_error, int_code, json_body, per_token, vendor_secret

RETRY_CODES = {1001, 1003}
RATE_CODES = {110010}  # as the code of the whole answer: requests too frequent
RATE_BACKOFF_SECONDS = 60.0
CONFIG_CODES = {1006, 110000, 110001, 110009}  # 1006: signature check failed (the AppSecret)
# Per push id inside a "200" answer's `value` map: 110002 unregistered, 110003 illegal -> dead;
# 110010 notifications switched off on the phone -> this message fails, the id stays.
DEAD_CODES = {110002: "pushId unregistered", 110003: "pushId illegal"}
ID_CODES = {110010: "notifications switched off"}
PUSH_IDS_MAX = 100  # pushIds per pushByPushId call


def meizu_sign(params: dict[str, str], secret: str) -> str:
    return hashlib.md5(("".join(f"{k}={params[k]}" for k in sorted(params)) + secret).encode()).hexdigest()


def meizu_message(push: OutgoingPush) -> dict[str, Any]:
    click: dict[str, Any] = {"clickType": 0}
    if push.click_action == "open_url" and push.url:
        click = {"clickType": 2, "url": push.url}
    click["parameters"] = dict(push.extras)
    return {"noticeBarInfo": {"title": push.title, "content": push.body}, "clickTypeInfo": click}


@register
class MeizuGateway(BatchGateway):
    code = "meizu"
    batch_limit = PUSH_IDS_MAX

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment, package_name=package_name)
        self.app_id = credential.vendor_app_id
        self.secret = vendor_secret(credential)

    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        params = {
            "appId": self.app_id,
            "pushIds": ",".join(p.token for p in pushes),
            "messageJson": json.dumps(meizu_message(pushes[0]), ensure_ascii=False),
        }
        params["sign"] = meizu_sign(params, self.secret)
        response = await self.client.post(
            f"{settings.MEIZU_URL.rstrip('/')}/garcia/api/server/push/varnished/pushByPushId", data=params
        )
        body = json_body(response)
        code = int_code(body.get("code"))
        reason = str(body.get("message", ""))
        error = http_error(response, reason, code=code)
        if error is not None:
            raise error
        message_id = str(body.get("msgId", ""))
        if code == 200:
            dead: dict[str, tuple[int | None, str]] = {}
            failed: dict[str, tuple[int | None, str]] = {}
            for key, ids in (body.get("value") or {}).items():
                key_code = int_code(key)
                for push_id in ids or []:
                    if key_code in DEAD_CODES:
                        dead[str(push_id)] = (key_code, DEAD_CODES[key_code])
                    else:
                        failed[str(push_id)] = (key_code, ID_CODES.get(key_code, "refused"))
            return per_token(pushes, dead, message_id=message_id, failed=failed)
        status = response.status_code
        if code in CONFIG_CODES:
            raise GatewayError(status, True, reason, code=code, config_error=True)
        if code in RETRY_CODES:
            raise GatewayError(status, False, reason, code=code)
        if code in RATE_CODES:
            raise GatewayError(status, False, reason, code=code, retry_after=RATE_BACKOFF_SECONDS)
        raise GatewayError(status, True, reason, code=code)
