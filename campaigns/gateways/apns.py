"""Apple APNs over HTTP/2: certificate (.p12) or token (.p8, ES256 JWT) auth."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from django.conf import settings

# payloads imports this package: use it through the module, resolved at call time
from .. import payloads
from ..codes import APNS_REASON_CODES
from . import register
from .base import Gateway, GatewayError, GatewayResult, OutgoingPush
from .http import ConnectionRefusedByPeer, H2Connection, StreamFailed, retry_after, run, ssl_context

logger = logging.getLogger(__name__)

# Apple: never retry these; the first three also mean the token is dead. DeviceTokenNotForTopic
# says the topic sent is not the token's app (a credential or topic mistake): the device lives on.
TOKEN_DEAD_REASONS = {"Unregistered", "ExpiredToken", "BadDeviceToken"}
NEVER_RETRY_REASONS = TOKEN_DEAD_REASONS | {"Forbidden", "PayloadTooLarge", "DeviceTokenNotForTopic"}
CONFIG_REASONS = {
    "BadCertificate",
    "BadCertificateEnvironment",
    "ExpiredProviderToken",
    "Forbidden",
    "InvalidProviderToken",
    "MissingProviderToken",
    "TopicDisallowed",
}
PROVIDER_TOKEN_REASONS = {"ExpiredProviderToken", "InvalidProviderToken", "TooManyProviderTokenUpdates"}
TRANSIENT_REASONS = {"TooManyRequests", "TooManyProviderTokenUpdates", "InternalServerError", "ServiceUnavailable"}
TRANSIENT_REASONS |= {"Shutdown", "IdleTimeout"}

# A JWT is reused; Apple wants a new one at most every 20 min and at least every 60 min.
JWT_LIFETIME = 50 * 60

CONN_CLOSED = APNS_REASON_CODES["ConnClosed"]
CONN_UNAVAILABLE = APNS_REASON_CODES["ConnUnavailable"]


def environment_of(credential: Any) -> str:
    """ "development" (sandbox host) or "production"; a universal certificate sends to production
    unless the device reported a development build (ApnsGateway picks the host per push)."""
    return "development" if credential.environment == "development" else "production"


def is_universal(credential: Any) -> bool:
    return getattr(credential, "environment", "") == "both"


def base_url(environment: str) -> str:
    return settings.APNS_SANDBOX_URL if environment == "development" else settings.APNS_PRODUCTION_URL


def classify(status: int, reason: str, headers: dict[str, str]) -> GatewayResult:
    """Map one APNs answer to a result (SPEC codes, dead token, retry, config)."""
    apns_id = headers.get("apns-id", "")
    if status == 200:
        return GatewayResult(accepted=True, http_status=200, gateway_message_id=apns_id)
    reason = reason or {410: "Unregistered", 413: "PayloadTooLarge", 429: "TooManyRequests"}.get(status, "")
    reason = reason or ("ServiceUnavailable" if status >= 500 else f"HTTP {status}")
    code = APNS_REASON_CODES.get(reason)
    if status == 410 and code is None:
        code = APNS_REASON_CODES["Unregistered"]
    common = {"accepted": False, "code": code, "reason": reason, "http_status": status, "gateway_message_id": apns_id}
    if reason in TOKEN_DEAD_REASONS or status == 410:
        return GatewayResult(**common, token_dead=True, permanent=True)
    if reason in NEVER_RETRY_REASONS:
        return GatewayResult(**common, permanent=True, config_error=reason == "Forbidden")
    if status == 403 or reason in CONFIG_REASONS:
        return GatewayResult(**common, permanent=True, config_error=True)
    if status == 429 or status >= 500 or reason in TRANSIENT_REASONS:
        return GatewayResult(**common, permanent=False, retry_after=retry_after(headers.get("retry-after")))
    return GatewayResult(**common, permanent=True)


def p12_to_pem(p12: bytes, password: str) -> tuple[bytes, bytes]:
    """The certificate and key of a .p12, as PEM (kept in memory only)."""
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(p12, password.encode() if password else None)
    except ValueError as exc:
        raise GatewayError(
            None, True, "BadCertificate", code=APNS_REASON_CODES["BadCertificate"], config_error=True
        ) from exc
    if key is None or cert is None:
        raise GatewayError(None, True, "BadCertificate", code=APNS_REASON_CODES["BadCertificate"], config_error=True)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert_pem, key_pem


class ProviderToken:
    """The cached ES256 JWT of a .p8 key, regenerated about every 50 minutes."""

    def __init__(self, key_pem: str, key_id: str, team_id: str, *, clock=time.time):
        self._key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        self.key_id = key_id
        self.team_id = team_id
        self.clock = clock
        self._token = ""
        self._issued_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            now = self.clock()
            if not self._token or now - self._issued_at >= JWT_LIFETIME:
                self._issued_at = int(now)
                self._token = jwt.encode(
                    {"iss": self.team_id, "iat": int(now)},
                    self._key,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
            return self._token

    def invalidate(self, issued_token: str) -> None:
        """APNs refused this JWT: make a new one next time (unless already replaced)."""
        with self._lock:
            if self._token == issued_token and self.clock() - self._issued_at >= 20 * 60:
                self._token = ""


@register
class ApnsGateway(Gateway):
    """One device per request; a batch goes out as concurrent streams on reused connections."""

    code = "apns"

    def __init__(self, credential: Any, *, environment: str = "", connections: int = 0, max_streams: int = 0):
        super().__init__(credential, environment=environment or environment_of(credential))
        self.topic = credential.topic
        self.token: ProviderToken | None = None
        if getattr(credential, "key_pem", ""):
            self.token = ProviderToken(credential.key_pem, credential.key_id, credential.team_id)
            context = ssl_context(http2=True)
        else:
            cert_pem, key_pem = p12_to_pem(bytes(credential.p12), credential.password or "")
            context = ssl_context(cert_pem=cert_pem, key_pem=key_pem, http2=True)
        self.universal = is_universal(credential)
        self._context = context
        self._streams = max_streams or settings.APNS_MAX_STREAMS
        self._pool_size = max(1, connections or settings.APNS_CONNECTIONS)
        self.connections = self._new_connections(self.environment)
        self._by_environment = {self.environment: self.connections}

    def _new_connections(self, environment: str) -> list[H2Connection]:
        url = base_url(environment)
        return [
            H2Connection(url, self._context, max_streams=self._streams, timeout=settings.GATEWAY_TIMEOUT)
            for _ in range(self._pool_size)
        ]

    def connections_for(self, push: OutgoingPush) -> list[H2Connection]:
        """A universal certificate sends each push to its device's environment; others to their own."""
        environment = push.apns_environment if self.universal else ""
        if environment not in ("production", "development"):
            return self.connections
        if environment not in self._by_environment:
            self._by_environment[environment] = self._new_connections(environment)
        return self._by_environment[environment]

    def send_batch(self, pushes: Sequence[OutgoingPush]) -> list[GatewayResult]:
        if not pushes:
            return []
        return run(self.send_batch_async(pushes))

    async def send_batch_async(self, pushes: Sequence[OutgoingPush]) -> list[GatewayResult]:
        """The same as send_batch, for callers already on the gateway loop."""
        pools = [self.connections_for(push) for push in pushes]
        results = await asyncio.gather(
            *(
                self._send_one(pool[i % len(pool)], push)
                for i, (pool, push) in enumerate(zip(pools, pushes, strict=True))
            ),
            return_exceptions=True,
        )
        out: list[GatewayResult] = []
        for result in results:
            if isinstance(result, GatewayResult):
                out.append(result)
            elif isinstance(result, GatewayError):
                raise result
            else:
                raise result  # a bug, not a gateway answer: let the task fail loudly
        if out and all(r.http_status is None and not r.accepted for r in out):
            # Nothing reached Apple: the whole call failed.
            first = out[0]
            raise GatewayError(None, False, first.reason, code=first.code)
        return out

    async def _send_one(self, connection: H2Connection, push: OutgoingPush) -> GatewayResult:
        headers = payloads.apns_headers(push)
        headers["apns-topic"] = push.topic or self.topic
        jwt_token = ""
        if self.token is not None:
            jwt_token = self.token.get()
            headers["authorization"] = f"bearer {jwt_token}"
        body = json.dumps(payloads.apns_payload(push), ensure_ascii=False, separators=(",", ":")).encode()
        try:
            response = await connection.request("POST", f"/3/device/{push.token}", list(headers.items()), body)
        except StreamFailed as exc:
            return GatewayResult(accepted=False, code=CONN_CLOSED, reason=f"ConnClosed: {exc.reason}", permanent=False)
        except TimeoutError:
            return GatewayResult(accepted=False, code=CONN_CLOSED, reason="ConnClosed: timeout", permanent=False)
        except OSError as exc:
            if _is_certificate_problem(exc) or (isinstance(exc, ConnectionRefusedByPeer) and self.token is None):
                raise GatewayError(
                    None, True, f"TLS: {exc}", code=APNS_REASON_CODES["BadCertificate"], config_error=True
                ) from exc
            return GatewayResult(
                accepted=False, code=CONN_UNAVAILABLE, reason=f"ConnUnavailable: {type(exc).__name__}", permanent=False
            )
        reason = ""
        if response.body:
            try:
                reason = json.loads(response.body).get("reason", "")
            except (ValueError, AttributeError):
                reason = ""
        result = classify(response.status, reason, response.headers)
        if result.token_dead and reason == "BadDeviceToken" and self.universal and not push.apns_environment:
            # Sent to production for a device that never said which build it runs: a development
            # build's live token gets this answer too. Failed, not dead.
            result = dataclasses.replace(result, token_dead=False)
        if self.token is not None and reason in PROVIDER_TOKEN_REASONS:
            self.token.invalidate(jwt_token)
        return result

    def close(self) -> None:
        for connection in [c for pool in self._by_environment.values() for c in pool]:
            try:
                run(_close(connection), timeout=5)
            except Exception:  # noqa: BLE001 - closing a dead connection must not raise
                logger.debug("closing APNs connection failed", exc_info=True)


async def _close(connection: H2Connection) -> None:
    connection.close()


def _is_certificate_problem(exc: OSError) -> bool:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return True
    text = str(exc).lower()
    return isinstance(exc, ssl.SSLError) and ("certificate" in text or "alert" in text)
