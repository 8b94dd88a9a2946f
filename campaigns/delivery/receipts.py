"""Delivery receipts: the SPEC's JSON body POSTed to the app's callback URL, RSA-signed.

One receipt per POST, as the SPEC says; what makes them keep pace with delivery:

- receipts travel in batches (one task per app and batch, not one per delivery);
- the app's signing key is parsed once per process (`console.keys.private_key`);
- each callback endpoint (scheme, host, port) has one pooled keep-alive client per process,
  built by `client_for`; every POST goes through the outbound guard (`console.security.outbound`):
  the URL is resolved and checked once per batch and each POST connects to that address;
- a batch is sent concurrently (`PUSHDECK_CALLBACK_CONCURRENCY` at once) and an app holds at
  most `PUSHDECK_CALLBACK_APP_TASKS` batches at a time on the whole fleet, so a slow or failing
  endpoint keeps only a bounded share of the workers and delays only its own app;
- an endpoint that fails every call of the first wave stops the batch: the untried receipts
  come back later instead of each waiting for its own timeout;
- every attempt is logged in CallbackAttempt (one insert per batch); failures are retried
  with backoff up to `PUSHDECK_CALLBACK_MAX_ATTEMPTS`.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.utils import timezone

from campaigns.codes import status_text
from campaigns.models import CallbackAttempt, Delivery, MessageState, Platform
from console.keys import rsa_sign
from console.models import KeyConfig
from console.security import outbound

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


# Pooled clients ----------------------------------------------------------------------


def callback_transport(origin: str) -> httpx.BaseTransport:
    """The connection step of every callback client (replace to guard outbound connections)."""
    return httpx.HTTPTransport(
        limits=httpx.Limits(
            max_connections=settings.PUSHDECK_CALLBACK_CONCURRENCY,
            max_keepalive_connections=settings.PUSHDECK_CALLBACK_CONCURRENCY,
            keepalive_expiry=30,
        ),
        retries=0,
    )


_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def client_for(url: str) -> httpx.Client:
    """One keep-alive client per callback endpoint and process, reused by every batch."""
    origin = _origin(url)
    client = _clients.get(origin)
    if client is None:
        with _clients_lock:
            client = _clients.get(origin)
            if client is None:
                client = httpx.Client(
                    transport=callback_transport(origin),
                    timeout=settings.PUSHDECK_CALLBACK_TIMEOUT,
                    headers={"Content-Type": "application/json"},
                    follow_redirects=False,
                )
                _clients[origin] = client
    return client


def close_clients() -> None:
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


# Sending -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # tried and refused: retry with backoff
    untried: list[int] = field(default_factory=list)  # the endpoint was down: come back later
    gave_up: list[int] = field(default_factory=list)  # failed on the last attempt


def _post(
    client: httpx.Client, url: str, raw: bytes, destination: outbound.Destination | Exception
) -> tuple[int | None, str]:
    """Through the outbound guard, to the address checked for this batch; errors in neutral words."""
    if isinstance(destination, Exception):
        return None, outbound.describe_error(destination)
    try:
        response = outbound.post(client, url, content=raw, destination=destination)
    except (httpx.HTTPError, outbound.RefusedDestination) as exc:
        return None, outbound.describe_error(exc)
    return response.status_code, "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def receipts_send(*, app_id: int, delivery_ids: list[int], attempt: int) -> BatchResult:
    """POST the receipts of these deliveries of one app, concurrently; log every attempt."""
    result = BatchResult()
    keys = KeyConfig.objects.filter(app_id=app_id).first()
    if keys is None or not keys.callback_enabled or not keys.callback_url or not keys.console_private_key:
        return result
    deliveries = list(
        Delivery.objects.select_related("message", "device")
        .filter(pk__in=delivery_ids, message__app_id=app_id)
        .order_by("pk")
    )
    if not deliveries:
        return result
    client = client_for(keys.callback_url)
    private_pem, base_url = keys.console_private_key, keys.callback_url
    # Resolved and checked once per batch, now (not when the URL was saved): every POST of the
    # batch connects to this address, whatever the name resolves to meanwhile.
    try:
        destination: outbound.Destination | Exception = outbound.resolve(base_url)
    except outbound.RefusedDestination as exc:
        destination = exc

    def prepare(delivery: Delivery) -> tuple[Delivery, dict, bytes, str]:
        body = receipt_body(delivery)
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return delivery, body, raw, _with_sign(base_url, rsa_sign(private_pem, raw))

    records: list[CallbackAttempt] = []
    width = max(1, min(settings.PUSHDECK_CALLBACK_CONCURRENCY, len(deliveries)))
    pending = iter(deliveries)
    failures_in_a_row = 0
    any_success = False
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="receipt") as pool:
        running = {}

        def start(delivery: Delivery) -> None:
            delivery, body, raw, url = prepare(delivery)
            running[pool.submit(_post, client, url, raw, destination)] = (delivery, body)

        for delivery in pending:
            start(delivery)
            if len(running) >= width:
                break
        while running:
            future = next(as_completed(running))
            delivery, body = running.pop(future)
            code, error = future.result()
            ok = code is not None and 200 <= code < 300
            records.append(
                CallbackAttempt(
                    app_id=app_id,
                    message_id=delivery.message_id,
                    delivery_id=delivery.pk,
                    url=base_url,
                    body=body,
                    attempt=attempt,
                    response_status=code,
                    error=error,
                    succeeded=ok,
                    at=timezone.now(),
                )
            )
            (result.sent if ok else result.failed).append(delivery.pk)
            any_success = any_success or ok
            failures_in_a_row = 0 if ok else failures_in_a_row + 1
            if not any_success and failures_in_a_row >= width:
                continue  # the endpoint is down: start nothing more, let the rest come back later
            nxt = next(pending, None)
            if nxt is not None:
                start(nxt)
    result.untried = [d.pk for d in pending]
    CallbackAttempt.objects.bulk_create(records, batch_size=1000)
    if attempt >= settings.PUSHDECK_CALLBACK_MAX_ATTEMPTS and result.failed:
        result.gave_up, result.failed = result.failed, []
    return result


def receipt_post(*, delivery_id: int, attempt: int) -> bool | None:
    """POST one receipt (True/False); None when there is nothing to send."""
    delivery = Delivery.objects.filter(pk=delivery_id).values_list("message__app_id", flat=True).first()
    if delivery is None:
        return None
    result = receipts_send(app_id=delivery, delivery_ids=[delivery_id], attempt=attempt)
    if result.sent:
        return True
    if result.failed or result.gave_up:
        return False
    return None
