"""Xiaomi MiPush: `Authorization: key=<AppSecret>`, form body, up to 1000 regIds per call."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from django.conf import settings

# payloads imports this package: use it through the module, resolved at call time
from .. import payloads
from . import register
from .base import GatewayError, GatewayResult, OutgoingPush
from .common import BatchGateway, http_error, json_body, per_token, ttl_seconds, vendor_secret

INVALID_TARGET = 20301
RETRY_CODES = {1, 10001, 10002, 10003, 10027, 26004}
NEXT_DAY_CODES = {10034}
CONFIG_CODES = {21301, 22000, 10031}


def xiaomi_form(pushes: list[OutgoingPush], package_name: str) -> dict[str, str]:
    push = pushes[0]
    data = payloads.android_data(push)
    if len(pushes) > 1:
        data.pop("pushId", None)
    form = {
        "registration_id": ",".join(p.token for p in pushes),
        "restricted_package_name": push.package_name or package_name,
        "title": push.title,
        "description": push.body,
        "payload": quote(json.dumps(data, ensure_ascii=False)),
        "pass_through": "1" if push.silent else "0",
        "notify_type": "-1",
        "time_to_live": str(ttl_seconds(push.expires_at) * 1000),  # milliseconds
    }
    if push.click_action == "open_url" and push.url:
        form["extra.notify_effect"] = "3"
        form["extra.web_uri"] = push.url
    else:
        form["extra.notify_effect"] = "1"
    return form


@register
class XiaomiGateway(BatchGateway):
    code = "xiaomi"

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment, package_name=package_name)
        self.secret = vendor_secret(credential)

    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        response = await self.client.post(
            f"{settings.XIAOMI_URL.rstrip('/')}/v3/message/regid",
            data=xiaomi_form(pushes, self.package_name),
            headers={"authorization": f"key={self.secret}"},
        )
        body = json_body(response)
        error = http_error(response)
        if error is not None:
            raise error
        code = int(body.get("code", -1)) if str(body.get("code", "")).lstrip("-").isdigit() else -1
        reason = str(body.get("description") or body.get("reason") or "")
        if body.get("result") == "ok" and code == 0:
            data = body.get("data") or {}
            bad = {t for t in str(data.get("bad_regIds", "")).split(",") if t}
            return per_token(pushes, bad, message_id=data.get("id", ""), code=INVALID_TARGET, reason="bad regId")
        if code == INVALID_TARGET:
            # every target refused: the regIds are invalid
            return per_token(pushes, {p.token for p in pushes}, code=INVALID_TARGET, reason=reason or "invalid target")
        if code in CONFIG_CODES:
            raise GatewayError(response.status_code, True, reason, code=code, config_error=True)
        if code in RETRY_CODES:
            raise GatewayError(response.status_code, False, reason, code=code)
        if code in NEXT_DAY_CODES:
            raise GatewayError(response.status_code, False, reason, code=code, retry_after=86400.0)
        raise GatewayError(response.status_code, True, reason, code=code)
