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
from .common import (
    BatchGateway,
    cut,
    http_error,
    int_code,
    json_body,
    per_token,
    seconds_to_next_vendor_day,
    ttl_seconds,
    vendor_secret,
)

INVALID_TARGET = 20301
RETRY_CODES = {1, 10001, 10002, 10003}
RATE_CODES = {10027, 26004, 200002}  # too frequent: back off
RATE_BACKOFF_SECONDS = 60.0
NEXT_DAY_CODES = {10034, 200001}  # daily volume exceeded: tomorrow
CONFIG_CODES = {21301, 22000, 10031}
TITLE_MAX = 49  # "title < 50 characters"
DESCRIPTION_MAX = 127  # "description < 128"


def _bad_regids(data: dict) -> set[str]:
    """Failed regIds of an accepted call: `bad_regids` in most clients, `bad_regIds` in one; read both."""
    bad: set[str] = set()
    for key in ("bad_regids", "bad_regIds"):
        value = data.get(key) or ""
        items = value if isinstance(value, list) else str(value).split(",")
        bad.update(str(t).strip() for t in items if str(t).strip())
    return bad


def xiaomi_form(pushes: list[OutgoingPush], package_name: str) -> dict[str, str]:
    push = pushes[0]
    data = payloads.android_data(push)
    if len(pushes) > 1:
        data.pop("pushId", None)
    form = {
        "registration_id": ",".join(p.token for p in pushes),
        "restricted_package_name": push.package_name or package_name,
        "title": cut(push.title, TITLE_MAX),
        "description": cut(push.body, DESCRIPTION_MAX),
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
        code = int_code(body.get("code"))
        reason = str(body.get("description") or body.get("reason") or "")
        error = http_error(response, reason, code=code)
        if error is not None:
            raise error
        code = -1 if code is None else code
        status = response.status_code
        if body.get("result") == "ok" and code == 0:
            data = body.get("data") or {}
            return per_token(
                pushes, _bad_regids(data), message_id=str(data.get("id", "")), code=INVALID_TARGET, reason="bad regId"
            )
        if code == INVALID_TARGET:
            # "No valid targets!": every regId of the call was refused
            return per_token(pushes, {p.token for p in pushes}, code=INVALID_TARGET, reason=reason or "invalid target")
        if code in CONFIG_CODES:
            raise GatewayError(status, True, reason, code=code, config_error=True)
        if code in RETRY_CODES:
            raise GatewayError(status, False, reason, code=code)
        if code in RATE_CODES:
            raise GatewayError(status, False, reason, code=code, retry_after=RATE_BACKOFF_SECONDS)
        if code in NEXT_DAY_CODES:
            raise GatewayError(status, False, reason, code=code, retry_after=seconds_to_next_vendor_day())
        raise GatewayError(status, True, reason, code=code)
