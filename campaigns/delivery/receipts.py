"""Delivery receipts: the SPEC's JSON body POSTed to the app's callback URL, RSA-signed."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.utils import timezone

from campaigns.codes import status_text
from campaigns.models import CallbackAttempt, Delivery, MessageState, Platform
from console.keys import rsa_sign
from console.models import KeyConfig

logger = logging.getLogger(__name__)


def receipt_body(delivery: Delivery) -> dict:
    """SPEC "Callback": msgId, pushSuccess, statusCode, statusDesc, targetId, extInfo {adToken, osType}."""
    message, device = delivery.message, delivery.device
    return {
        "msgId": str(message.pk),
        "pushSuccess": delivery.state == MessageState.ACCEPTED,
        "statusCode": delivery.status,
        "statusDesc": status_text(delivery.status),
        "targetId": message.target_id or device.device_id,
        "extInfo": {"adToken": device.device_id, "osType": "iOS" if device.platform == Platform.IOS else "Android"},
    }


def _with_sign(url: str, sign: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + urlencode({"sign": sign})))


def receipt_post(*, delivery_id: int, attempt: int) -> bool | None:
    """POST one receipt; every attempt is logged in CallbackAttempt. None: nothing to send."""
    delivery = Delivery.objects.select_related("message", "device").filter(pk=delivery_id).first()
    if delivery is None:
        return None
    keys = KeyConfig.objects.filter(app_id=delivery.message.app_id).first()
    if keys is None or not keys.callback_enabled or not keys.callback_url or not keys.console_private_key:
        return None
    body = receipt_body(delivery)
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    url = _with_sign(keys.callback_url, rsa_sign(keys.console_private_key, raw))
    record = CallbackAttempt(
        app_id=delivery.message.app_id,
        message_id=delivery.message_id,
        delivery=delivery,
        url=keys.callback_url,
        body=body,
        attempt=attempt,
        at=timezone.now(),
    )
    try:
        response = httpx.post(
            url, content=raw, headers={"Content-Type": "application/json"}, timeout=settings.GATEWAY_TIMEOUT
        )
        record.response_status = response.status_code
        record.succeeded = 200 <= response.status_code < 300
        if not record.succeeded:
            record.error = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        record.error = f"{type(exc).__name__}: {exc}"[:300]
    record.save()
    return record.succeeded
