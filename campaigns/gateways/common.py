"""Pieces the JSON/form gateways share: content grouping, token caches, HTTP error mapping."""

from __future__ import annotations

import asyncio
import json
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from django.utils import timezone

from .base import Gateway, GatewayError, GatewayResult, OutgoingPush
from .http import HttpClient, retry_after, run

SECRET_NAMES = ("app_secret", "master_secret", "client_secret", "secret")


def vendor_secret(credential: Any) -> str:
    """The secret of a VendorChannel (its `secrets` JSON: app_secret / master_secret / ...)."""
    raw = getattr(credential, "secrets", "") or ""
    try:
        values = json.loads(raw) if raw else {}
    except ValueError:
        values = {"secret": raw}
    if not isinstance(values, dict):
        values = {}
    for name in SECRET_NAMES:
        if values.get(name):
            return str(values[name])
    raise GatewayError(None, True, "vendor secret missing", config_error=True)


def ttl_seconds(expires_at: datetime) -> int:
    return max(0, int((expires_at - timezone.now()).total_seconds()))


def content_key(push: OutgoingPush) -> tuple:
    """Pushes with equal keys carry the same content: one vendor batch call can send them."""
    return (
        push.title,
        push.body,
        push.silent,
        push.display_style,
        push.click_action,
        push.url,
        push.activity,
        push.icon_url,
        push.image_url,
        push.package_name,
        tuple(sorted(push.extras.items())),
        int(push.expires_at.timestamp()) // 60,
    )


def error_results(error: GatewayError, count: int) -> list[GatewayResult]:
    """A whole-call failure as one result per push."""
    result = GatewayResult(
        accepted=False,
        code=error.code,
        reason=error.reason,
        http_status=error.status,
        permanent=error.permanent,
        retry_after=error.retry_after,
        config_error=error.config_error,
    )
    return [result] * count


def http_error(response: httpx.Response, reason: str = "", *, code: int | None = None) -> GatewayError | None:
    """Transport-level failures every vendor shares (401/403/413/429/5xx); None when 2xx.
    `code` is the vendor's own code from the body, kept on the error (and so on the final status)."""
    status = response.status_code
    if status < 300:
        return None
    reason = reason or f"HTTP {status}"
    wait = retry_after(response.headers.get("retry-after"))
    if status == 429 or status >= 500 or status == 408:
        return GatewayError(status, False, reason, code=code, retry_after=wait)
    if status in (401, 403):
        return GatewayError(status, True, reason, code=code, config_error=True)
    return GatewayError(status, True, reason, code=code)


def int_code(value: Any) -> int | None:
    """A vendor's code as a number ("80300007", 200, "-2"); None when absent or not a number."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# The Chinese vendors' daily quotas start again at midnight Beijing time.
VENDOR_DAY_ZONE = ZoneInfo("Asia/Shanghai")


def seconds_to_next_vendor_day(now: datetime | None = None) -> float:
    """Seconds until a few minutes after the next midnight in Beijing (a daily quota's reset)."""
    now = (now or timezone.now()).astimezone(VENDOR_DAY_ZONE)
    reset = (now + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
    return max(60.0, (reset - now).total_seconds())


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters (the console said so before sending: see payloads.vendor_limit_notes)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_body(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def oauth_token(
    client: HttpClient, url: str, form: dict[str, str], *, code: int | None = None
) -> tuple[str, float]:
    """POST an OAuth 2 token request; (access token, lifetime seconds). A 429/5xx is transient,
    any other refusal a permanent configuration error (with `code`, the gateway's auth failure code)."""
    response = await client.post(url, data=form)
    body = json_body(response)
    if response.status_code >= 500 or response.status_code == 429:
        raise GatewayError(response.status_code, False, "OAuth token endpoint unavailable")
    if response.status_code != 200 or not body.get("access_token"):
        said = ": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
        raise GatewayError(
            response.status_code, True, f"OAuth: {said or response.status_code}", code=code, config_error=True
        )
    return body["access_token"], float(body.get("expires_in", 3600))


class TokenCache:
    """An access token fetched by `fetch() -> (token, lifetime seconds)`, refreshed early."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], *, margin: float = 300.0):
        self.fetch = fetch
        self.margin = margin
        self.token = ""
        self.expires = 0.0
        self.fetches = 0
        self._lock: asyncio.Lock | None = None

    async def get(self, *, refresh_from: str = "") -> str:
        """The current token; `refresh_from` = a token the server refused (fetch a new one once)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            stale = refresh_from and refresh_from == self.token
            if stale or not self.token or time.monotonic() >= self.expires:
                token, lifetime = await self.fetch()
                self.fetches += 1
                self.token = token
                self.expires = time.monotonic() + max(30.0, float(lifetime) - self.margin)
            return self.token


async def post_with_token(
    client: HttpClient,
    tokens: TokenCache,
    url: str,
    payload: dict,
    *,
    headers: Callable[[str], dict[str, str]],
    refused: Callable[[dict], bool],
) -> tuple[httpx.Response, dict]:
    """POST `payload` as JSON under a bearer token; a refused token (401 or `refused(body)`) is refreshed once."""
    token = await tokens.get()
    response = await client.post(url, json=payload, headers=headers(token))
    body = json_body(response)
    if response.status_code == 401 or refused(body):
        token = await tokens.get(refresh_from=token)
        response = await client.post(url, json=payload, headers=headers(token))
        body = json_body(response)
    return response, body


class BatchGateway(Gateway):
    """Base of the JSON/form gateways: groups pushes by content, sends groups concurrently."""

    batch_limit = 1000
    concurrency = 20

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment)
        self.package_name = package_name
        self.client = HttpClient(max_connections=self.concurrency)

    def send_batch(self, pushes: Sequence[OutgoingPush]) -> list[GatewayResult]:
        if not pushes:
            return []
        return run(self.send_batch_async(pushes))

    async def send_batch_async(self, pushes: Sequence[OutgoingPush]) -> list[GatewayResult]:
        groups: dict[tuple, list[int]] = {}
        for index, push in enumerate(pushes):
            groups.setdefault(content_key(push), []).append(index)
        chunks = [
            indexes[i : i + self.batch_limit]
            for indexes in groups.values()
            for i in range(0, len(indexes), self.batch_limit)
        ]
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(indexes: list[int]) -> list[GatewayResult] | GatewayError:
            async with semaphore:
                try:
                    return await self.send_group([pushes[i] for i in indexes])
                except GatewayError as error:
                    return error

        answers = await asyncio.gather(*(one(chunk) for chunk in chunks))
        errors = [a for a in answers if isinstance(a, GatewayError)]
        if errors and len(errors) == len(answers):
            raise errors[0]  # the whole call failed
        results: list[GatewayResult | None] = [None] * len(pushes)
        for indexes, answer in zip(chunks, answers, strict=True):
            group_results = error_results(answer, len(indexes)) if isinstance(answer, GatewayError) else answer
            for i, result in zip(indexes, group_results, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    @abstractmethod
    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        """Send pushes sharing one content; one result per push, in order."""

    def close(self) -> None:
        self.client.close()


def per_token(
    pushes: Sequence[OutgoingPush],
    dead: set[str] | dict[str, tuple[int | None, str]],
    *,
    message_id: str = "",
    code: int | None = None,
    reason: str = "",
    failed: dict[str, tuple[int | None, str]] | None = None,
) -> list[GatewayResult]:
    """Accepted for every push except the dead tokens (and other per-token failures). `dead` is a set
    (all with `code` / `reason`) or a mapping token -> (code, reason) when the answer said why per token."""
    failed = failed or {}
    out = []
    for push in pushes:
        if push.token in dead:
            dead_code, dead_reason = dead[push.token] if isinstance(dead, dict) else (code, reason)
            out.append(
                GatewayResult(
                    accepted=False,
                    code=dead_code,
                    reason=dead_reason,
                    http_status=200,
                    token_dead=True,
                    permanent=True,
                    gateway_message_id=message_id,
                )
            )
        elif push.token in failed:
            fcode, freason = failed[push.token]
            out.append(
                GatewayResult(
                    accepted=False,
                    code=fcode,
                    reason=freason,
                    http_status=200,
                    permanent=True,
                    gateway_message_id=message_id,
                )
            )
        else:
            out.append(GatewayResult(accepted=True, http_status=200, gateway_message_id=message_id))
    return out
