"""Firebase Cloud Messaging HTTP v1, OAuth2 JWT-bearer from the service account."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from django.conf import settings

# payloads imports this package: use it through the module, resolved at call time
from .. import payloads
from ..codes import FCM_ERROR_CODES
from . import register
from .base import GatewayError, GatewayResult, OutgoingPush
from .common import BatchGateway, TokenCache, json_body, oauth_token
from .http import retry_after

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
AUTH_CODE = FCM_ERROR_CODES["Authentication"]


def _fcm_error(body: dict) -> tuple[str, str, str]:
    """(status, FCM errorCode, message) of an error body."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    error_code = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            error_code = detail["errorCode"]
    return error.get("status", ""), error_code, error.get("message", "")


def classify(status: int, body: dict, headers: Any) -> GatewayResult:
    """Map one messages:send answer (GATEWAYS.md section 2)."""
    if status == 200:
        return GatewayResult(accepted=True, http_status=200, gateway_message_id=body.get("name", ""))
    grpc_status, error_code, message = _fcm_error(body)
    reason = error_code or grpc_status or f"HTTP {status}"
    common = {"accepted": False, "reason": reason, "http_status": status}
    wait = retry_after(headers.get("retry-after"))
    if error_code == "UNREGISTERED" or (status == 404 and grpc_status == "NOT_FOUND" and not error_code):
        return GatewayResult(**common, code=FCM_ERROR_CODES["NotRegistered"], token_dead=True)
    if error_code == "SENDER_ID_MISMATCH":
        # the token belongs to another Firebase project: dead for this credential
        return GatewayResult(**common, code=FCM_ERROR_CODES["InvalidRegistration"], token_dead=True)
    if error_code in ("THIRD_PARTY_AUTH_ERROR", "APNS_AUTH_ERROR") or status in (401, 403):
        return GatewayResult(**common, code=AUTH_CODE, config_error=True)
    if error_code == "QUOTA_EXCEEDED" or status == 429:
        return GatewayResult(**common, permanent=False, retry_after=wait)
    if error_code in ("UNAVAILABLE", "INTERNAL") or status >= 500:
        code = FCM_ERROR_CODES["InternalServerError"] if error_code == "INTERNAL" or status == 500 else None
        return GatewayResult(**common, code=code, permanent=False, retry_after=wait)
    if status == 413 or "too big" in message.lower() or "too large" in message.lower():
        return GatewayResult(**common, code=FCM_ERROR_CODES["MessageTooBig"])
    if error_code == "INVALID_ARGUMENT" or grpc_status == "INVALID_ARGUMENT":
        lowered = message.lower()
        if "registration token" in lowered or "message.token" in lowered:
            return GatewayResult(**common, code=FCM_ERROR_CODES["InvalidRegistration"], token_dead=True)
        if "ttl" in lowered:
            return GatewayResult(**common, code=FCM_ERROR_CODES["InvalidTtl"])
        if "package" in lowered:
            return GatewayResult(**common, code=FCM_ERROR_CODES["InvalidPackageName"])
    return GatewayResult(**common)


@register
class FcmGateway(BatchGateway):
    """One HTTP request per message (v1 has no batch), many in parallel."""

    code = "fcm"
    batch_limit = 1
    concurrency = 50

    def __init__(self, credential: Any, *, environment: str = "", package_name: str = ""):
        super().__init__(credential, environment=environment, package_name=package_name)
        try:
            account = json.loads(credential.service_account or "")
            self.project_id = account["project_id"]
            self.client_email = account["client_email"]
            self.private_key = account["private_key"]
            self.private_key_id = account.get("private_key_id", "")
            # Google's endpoint (or the operator's FCM_TOKEN_URL), never the file's `token_uri`:
            # an uploaded file must not aim the workers' requests.
            self.token_uri = settings.FCM_TOKEN_URL or GOOGLE_TOKEN_URI
        except (ValueError, KeyError, TypeError) as exc:
            raise GatewayError(None, True, "service account JSON unusable", code=AUTH_CODE, config_error=True) from exc
        self.tokens = TokenCache(self._fetch_token, margin=120)

    async def _fetch_token(self) -> tuple[str, float]:
        now = int(time.time())
        claims = {"iss": self.client_email, "scope": SCOPE, "aud": self.token_uri, "iat": now, "exp": now + 3600}
        headers = {"kid": self.private_key_id} if self.private_key_id else {}
        try:
            assertion = jwt.encode(claims, self.private_key, algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise GatewayError(None, True, "service account key unusable", code=AUTH_CODE, config_error=True) from exc
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        return await oauth_token(self.client, self.token_uri, form, code=AUTH_CODE)

    async def send_group(self, pushes: list[OutgoingPush]) -> list[GatewayResult]:
        return [await self._send_one(push) for push in pushes]

    async def _send_one(self, push: OutgoingPush) -> GatewayResult:
        url = f"{settings.FCM_URL.rstrip('/')}/v1/projects/{self.project_id}/messages:send"
        payload = payloads.fcm_message(push)
        token = await self.tokens.get()
        for attempt in range(2):
            response = await self.client.post(url, json=payload, headers={"authorization": f"Bearer {token}"})
            body = json_body(response)
            status, error_code, _ = _fcm_error(body)
            if response.status_code == 401 and not error_code and attempt == 0:
                # a plain 401: our OAuth token expired early; get a new one and try once more
                token = await self.tokens.get(refresh_from=token)
                continue
            return classify(response.status_code, body, response.headers)
        raise AssertionError("unreachable")
