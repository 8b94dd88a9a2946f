"""Meizu Push: pushByPushId, form fields signed with md5 over the sorted fields + AppSecret."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings

from . import register
from .base import GatewayError, GatewayResult, OutgoingPush
from .common import BatchGateway, http_error, json_body, per_token, vendor_secret

RETRY_CODES = {1001, 1003}
CONFIG_CODES = {110000, 110001, 110009}
# pushId expired / not subscribed: the token is dead
DEAD_CODES = {110002, 110003}


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
        error = http_error(response)
        if error is not None:
            raise error
        body = json_body(response)
        try:
            code = int(body.get("code", -1))
        except (TypeError, ValueError):
            code = -1
        reason = str(body.get("message", ""))
        if code == 200:
            dead: set[str] = set()
            failed: dict[str, tuple[int | None, str]] = {}
            for key, ids in (body.get("value") or {}).items():
                for push_id in ids or []:
                    if str(key).isdigit() and int(key) in DEAD_CODES:
                        dead.add(str(push_id))
                    else:
                        failed[str(push_id)] = (int(key) if str(key).isdigit() else None, "refused")
            return per_token(
                pushes, dead, message_id=str(body.get("msgId", "")), code=110003, reason="invalid pushId", failed=failed
            )
        if code in CONFIG_CODES:
            raise GatewayError(200, True, reason, code=code, config_error=True)
        if code in RETRY_CODES:
            raise GatewayError(200, False, reason, code=code)
        raise GatewayError(200, True, reason, code=code)
