"""SMS fallback: one SMS when a notification has not arrived (or not been clicked) in time.

Providers share one small interface; the sandbox provider is the embedded default,
the generic provider POSTs JSON signed with HMAC-SHA256 to any SMS HTTP API.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Delivery, SmsMessage

from .status import timeline_note

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    provider_message_id: str = ""
    error: str = ""


class SmsProvider(ABC):
    code: ClassVar[str]

    @abstractmethod
    def send(self, *, phone_number: str, text: str, reference: str) -> SmsResult:
        """Hand one SMS to the provider."""


class SandboxSmsProvider(SmsProvider):
    """Accepts every SMS without sending it (demo and development)."""

    code = "sandbox"

    def send(self, *, phone_number: str, text: str, reference: str) -> SmsResult:
        return SmsResult(ok=True, provider_message_id=f"sandbox-{reference}")


class HttpSmsProvider(SmsProvider):
    """POST {to, text, reference} to SMS_HTTP_URL, signed like our client API (HMAC-SHA256)."""

    code = "http"

    def __init__(self, url: str | None = None, key: str | None = None, secret: str | None = None):
        self.url = url or settings.SMS_HTTP_URL
        self.key = key or settings.SMS_HTTP_KEY
        self.secret = secret or settings.SMS_HTTP_SECRET

    def send(self, *, phone_number: str, text: str, reference: str) -> SmsResult:
        body = json.dumps({"to": phone_number, "text": text, "reference": reference}).encode()
        timestamp = str(int(time.time() * 1000))
        signed = timestamp.encode() + b"\n" + body
        signature = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Sms-Key": self.key,
            "X-Sms-Timestamp": timestamp,
            "X-Sms-Signature": signature,
        }
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=settings.GATEWAY_TIMEOUT)
        except httpx.HTTPError as exc:
            return SmsResult(ok=False, error=f"{type(exc).__name__}")
        if response.status_code >= 300:
            return SmsResult(ok=False, error=f"HTTP {response.status_code}")
        try:
            message_id = str(response.json().get("id", ""))
        except ValueError:
            message_id = ""
        return SmsResult(ok=True, provider_message_id=message_id or uuid.uuid4().hex)


SMS_PROVIDERS: dict[str, type[SmsProvider]] = {p.code: p for p in (SandboxSmsProvider, HttpSmsProvider)}


def sms_provider(app=None) -> SmsProvider:
    """The app's chosen provider, else the server's SMS_PROVIDER."""
    code = (app.sms_fallback_provider if app is not None else "") or settings.SMS_PROVIDER
    return SMS_PROVIDERS[code]()


def sms_fallback_send(*, delivery_id: int, now: datetime | None = None, provider: SmsProvider | None = None) -> str:
    """Send the one fallback SMS for a delivery if it is still due. Returns what happened."""
    now = now or timezone.now()
    delivery = Delivery.objects.select_related("message__app", "device").filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"
    app, message, device = delivery.message.app, delivery.message, delivery.device
    if not app.sms_fallback_enabled or not device.phone_number:
        return "off"
    done_at = delivery.clicked_at if app.sms_fallback_on == "click" else (delivery.arrived_at or delivery.clicked_at)
    if done_at is not None:
        return "not needed"
    if (now - delivery.created_at).total_seconds() < min(app.sms_fallback_delay, 3 * 86400) - 1:
        return "too early"
    provider = provider or sms_provider(app)
    try:
        with transaction.atomic():
            # OneToOne on the delivery: a second run (retry, beat sweep) never sends twice.
            sms = SmsMessage.objects.create(
                app=app, delivery=delivery, phone_number=device.phone_number, provider=provider.code, at=now
            )
    except IntegrityError:
        return "already sent"
    text = f"{message.title}: {message.body}" if message.title else message.body
    result = provider.send(phone_number=device.phone_number, text=text[:500], reference=str(delivery.push_id))
    sms.state = "sent" if result.ok else "failed"
    sms.provider_message_id = result.provider_message_id
    sms.error = result.error
    sms.save(update_fields=["state", "provider_message_id", "error"])
    why = "not clicked" if app.sms_fallback_on == "click" else "not arrived"
    outcome = "sent" if result.ok else f"failed ({result.error})"
    timeline_note(
        message_id=message.pk,
        delivery_id=delivery.pk,
        description=f"SMS fallback {outcome} via {provider.code}: {why} after {app.sms_fallback_delay}s",
        now=now,
    )
    return sms.state


def sms_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Deliveries whose fallback delay has passed without arrival (or click) and no SMS yet.

    Driven by beat rather than long countdowns: an ETA of hours would outlive the
    broker's visibility timeout and be delivered again and again.
    """
    from datetime import timedelta

    from django.db.models import Q

    from console.models import App

    now = now or timezone.now()
    horizon = now - timedelta(days=4)
    # One condition per app with the fallback on (its own delay): portable, and each is an index range.
    apps = list(App.objects.filter(sms_fallback_enabled=True).values_list("pk", "sms_fallback_delay"))
    if not apps:
        return []
    due = Q()
    for app_id, delay in apps:
        due |= Q(message__app_id=app_id, created_at__lte=now - timedelta(seconds=delay))
    qs = (
        Delivery.objects.filter(due, created_at__gte=horizon, sms__isnull=True)
        .exclude(device__phone_number="")
        # Key lookups (SQLite has no JSON contains); has_key keeps payloads without the key in.
        .exclude(message__payload__has_key="display_type", message__payload__display_type="silent")
        .filter(Q(message__app__sms_fallback_on="click", clicked_at__isnull=True) | Q(arrived_at__isnull=True))
    )
    return list(qs.order_by("pk").values_list("pk", flat=True)[:limit])
