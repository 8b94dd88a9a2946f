"""Delivery receipts: the SPEC's JSON body POSTed to the app's callback URL, RSA-signed.

One receipt per POST, as the SPEC says; what makes them keep pace with delivery:

- receipts travel in batches (one task per app and batch, not one per delivery);
- the app's signing key is parsed once per process (`console.keys.private_key`);
- each callback endpoint has one pool of keep-alive connections per process (`pools()`, on
  http.client, lean enough that signing stays the main cost); every POST goes through the outbound
  guard (`console.security.outbound`): the URL is resolved and checked once per batch and each
  POST connects to that address;
- a batch is signed and sent by `PUSHDECK_CALLBACK_CONCURRENCY` threads (signing releases the GIL) and an app holds at
  most `PUSHDECK_CALLBACK_APP_TASKS` batches at a time on the whole fleet, so a slow or failing
  endpoint keeps only a bounded share of the workers and delays only its own app;
- an endpoint that fails every call of the first wave stops the batch: the untried receipts
  come back later instead of each waiting for its own timeout;
- every attempt is logged in CallbackAttempt (one COPY per batch); failures are retried
  with backoff up to `PUSHDECK_CALLBACK_MAX_ATTEMPTS`.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from campaigns.codes import status_text
from campaigns.lookups import Many
from campaigns.models import CallbackAttempt, Delivery, Device, Message, MessageState, Platform
from console.keys import rsa_sign
from console.models import KeyConfig
from console.security import outbound

from .status import copy_insert

logger = logging.getLogger(__name__)


def receipt_body(
    *,
    message_id: int,
    state: str,
    status: int,
    target_id: str,
    device_id: str,
    platform: str,
    status_desc: str | None = None,
) -> dict:
    """SPEC "Callback": msgId, pushSuccess, statusCode, statusDesc, targetId, extInfo {adToken, osType}."""
    return {
        "msgId": str(message_id),
        "pushSuccess": state == MessageState.ACCEPTED,
        "statusCode": status,
        "statusDesc": status_text(status) if status_desc is None else status_desc,
        "targetId": target_id or device_id,
        "extInfo": {"adToken": device_id, "osType": "iOS" if platform == Platform.IOS else "Android"},
    }


def _sign_slot(url: str) -> str:
    """The callback URL up to its `sign` parameter's value (a fragment never goes on the wire).

    Worked out once per batch; each receipt's URL is then this + its quoted sign."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=query + "sign=", fragment=""))


def _quote_sign(sign: str) -> str:
    """URL-quote a base64url signature: its only character that needs it is the '=' padding."""
    return sign.replace("=", "%3D")


# Pooled connections ------------------------------------------------------------------

_pools: dict[tuple[int, float], outbound.Pools] = {}
_pools_lock = threading.Lock()


def pools() -> outbound.Pools:
    """The process's keep-alive pools for callback endpoints (one per checked address), reused by every batch."""
    key = (settings.PUSHDECK_CALLBACK_CONCURRENCY, settings.PUSHDECK_CALLBACK_TIMEOUT)
    found = _pools.get(key)
    if found is None:
        with _pools_lock:
            found = _pools.setdefault(key, outbound.Pools(maxsize=key[0], timeout=key[1]))
    return found


def close_pools() -> None:
    with _pools_lock:
        for each in _pools.values():
            each.close()
        _pools.clear()


# Sending -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # tried and refused: retry with backoff
    untried: list[int] = field(default_factory=list)  # the endpoint was down: come back later
    gave_up: list[int] = field(default_factory=list)  # failed on the last attempt


_HEADERS = {"Content-Type": "application/json"}


def _post(target: str, raw: bytes, destination: outbound.Destination | Exception) -> tuple[int | None, str]:
    """Through the outbound guard, to the address checked for this batch; errors in neutral words."""
    if isinstance(destination, Exception):
        return None, outbound.describe_error(destination)
    try:
        status = outbound.post_to(pools(), destination, target, content=raw, headers=_HEADERS)
    except (http.client.HTTPException, OSError, outbound.RefusedDestination) as exc:
        return None, outbound.describe_error(exc)
    return status, "" if 200 <= status < 300 else f"HTTP {status}"


_ATTEMPT_FIELDS = (
    "app",
    "message",
    "delivery",
    "url",
    "body",
    "attempt",
    "response_status",
    "error",
    "succeeded",
    "at",
)


def _receipt_rows(app_id: int, delivery_ids: list[int]) -> list[tuple]:
    """(pk, message_id, state, status, target_id, device_id, platform) of these deliveries of
    the app, by delivery id.

    Three reads by primary key, joined here: one SQL join of the three tables was planned from
    the statistics, and while a big send's rows were still unknown to them (a new install, the
    first minute of a send) PostgreSQL led with the app's messages, walking every one of them
    for each batch (370 ms for a batch of 200 in an app of 60,000 messages). A read by primary
    key has no other plan. The app is checked here, not in SQL, for the same reason."""
    deliveries = list(
        Delivery.objects.filter(pk__any=Many(delivery_ids))
        .order_by("pk")
        .values_list("pk", "message_id", "state", "status", "device_id")
    )
    if not deliveries:
        return []
    messages = {
        pk: target_id
        for pk, owner, target_id in Message.objects.filter(
            pk__any=Many(list({row[1] for row in deliveries}))
        ).values_list("pk", "app_id", "target_id")
        if owner == app_id
    }
    devices = {
        pk: (device_id, platform)
        for pk, device_id, platform in Device.objects.filter(
            pk__any=Many(list({row[4] for row in deliveries}))
        ).values_list("pk", "device_id", "platform")
    }
    return [
        (pk, message_id, state, status, messages[message_id], *devices[device_pk])
        for pk, message_id, state, status, device_pk in deliveries
        if message_id in messages and device_pk in devices
    ]


def receipts_send(*, app_id: int, delivery_ids: list[int], attempt: int) -> BatchResult:
    """POST the receipts of these deliveries of one app, concurrently; log every attempt."""
    result = BatchResult()
    keys = KeyConfig.objects.filter(app_id=app_id).first()
    if keys is None or not keys.callback_enabled or not keys.callback_url or not keys.console_private_key:
        return result
    rows = _receipt_rows(app_id, delivery_ids)
    # A receipt this attempt already logged was POSTed by an earlier run of this batch (a task
    # delivered again): it is not sent twice.
    logged = set(
        CallbackAttempt.objects.filter(delivery_id__any=Many([row[0] for row in rows]), attempt=attempt).values_list(
            "delivery_id", flat=True
        )
    )
    rows = [row for row in rows if row[0] not in logged]
    if not rows:
        return result
    private_pem, base_url = keys.console_private_key, keys.callback_url
    # Resolved and checked once per batch, now (not when the URL was saved): every POST of the
    # batch connects to this address, whatever the name resolves to meanwhile.
    try:
        destination: outbound.Destination | Exception = outbound.resolve(base_url)
    except outbound.RefusedDestination as exc:
        destination = exc

    # The request target up to the signature, worked out once: each POST adds its quoted sign.
    target_head = outbound.request_target(_sign_slot(base_url))
    texts: dict[int, str] = {}  # statusDesc per status, looked up once per batch
    width = max(1, min(settings.PUSHDECK_CALLBACK_CONCURRENCY, len(rows)))
    pending = iter(rows)
    lock = threading.Lock()
    records: list[tuple] = []
    outcome = {"failures_in_a_row": 0, "any_success": False}
    errors: list[Exception] = []

    def next_row() -> tuple | None:
        with lock:
            if errors:
                return None
            if not outcome["any_success"] and outcome["failures_in_a_row"] >= width:
                return None  # the endpoint is down: start nothing more, let the rest come back later
            return next(pending, None)

    def work() -> None:
        # Each of `width` threads signs and POSTs one receipt at a time; the signature (the
        # main cost) and the wait for the endpoint both run without the GIL.
        try:
            while (row := next_row()) is not None:
                send(row)
        except Exception as exc:  # noqa: BLE001 - raised again below, once the others stop
            with lock:
                errors.append(exc)

    def send(row: tuple) -> None:
        pk, message_id, state, status, target_id, device_id, platform = row
        text = texts.get(status)
        if text is None:
            text = texts[status] = status_text(status)
        body = receipt_body(
            message_id=message_id,
            state=state,
            status=status,
            target_id=target_id,
            device_id=device_id,
            platform=platform,
            status_desc=text,
        )
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        code, error = _post(target_head + _quote_sign(rsa_sign(private_pem, raw)), raw, destination)
        ok = code is not None and 200 <= code < 300
        with lock:
            records.append((app_id, message_id, pk, base_url, body, attempt, code, error, ok, timezone.now()))
            (result.sent if ok else result.failed).append(pk)
            outcome["any_success"] = outcome["any_success"] or ok
            outcome["failures_in_a_row"] = 0 if ok else outcome["failures_in_a_row"] + 1

    threads = [threading.Thread(target=work, name=f"receipt-{i}") for i in range(width - 1)]
    for thread in threads:
        thread.start()
    work()
    for thread in threads:
        thread.join()
    result.untried = [row[0] for row in pending]
    copy_insert(CallbackAttempt, _ATTEMPT_FIELDS, records)  # what was POSTed stays logged
    if errors:
        raise errors[0]
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
