"""Signed APIs: the server API (RSA under the customer's key) and the client API (HMAC).

Signed string, exactly: method, path, timestamp (Unix ms), nonce and the lowercase
hex SHA-256 of the raw body, joined by "\\n". Server API: RSA PKCS#1 v1.5 with
SHA-256 under the app's uploaded public key, base64 with + -> - and / -> _.
Client API: HMAC-SHA256 under the AppSecret, encoded the same way.

A bad or missing signature, a timestamp more than five minutes off or a reused
nonce gives -1 and changes nothing; the Push API switch off gives 3032.

Server API guards (console/security/api.py): a source address outside the app's
allowlist gives HTTP 403 with 3028 INVALID_PARAM and a detail; more calls than the
app's per-minute limit give HTTP 429 with 3028 and a Retry-After header; a body over
DATA_UPLOAD_MAX_MEMORY_SIZE gives HTTP 413 with 3028. Every refusal is counted
(metrics) and audited as `api.refused` with its code and reason (never a header value
or the body); refusals before authentication (forged or stale signatures, unknown app
keys, refused sources, 429s) are audited once per app, code and minute, the rest of
that minute as one `api.refused.summary` entry with the count.

Malformed input (non-ASCII digits or signatures, Infinity / NaN / out-of-range numbers
in the JSON body) is refused with its SPEC code like any other bad input, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .apicodes import ApiCode, PushError
from .appcache import Stale, confirm, signed_app
from .keys import rsa_verify, urlsafe_b64
from .models import ApiNonce, App
from .security.api import audit_refusal, check_rate, check_source
from .security.counters import first_use

logger = logging.getLogger(__name__)

HEADER_APP_KEY = "X-Pushdeck-App-Key"
HEADER_TIMESTAMP = "X-Pushdeck-Timestamp"
HEADER_NONCE = "X-Pushdeck-Nonce"
HEADER_SIGNATURE = "X-Pushdeck-Signature"
# Client API: the device whose own secret signs the call (absent: signed under the AppSecret).
HEADER_DEVICE_ID = "X-Pushdeck-Device-Id"

# HTTP status for each kind of refusal; the body always carries the SPEC code.
HTTP_STATUS = {
    ApiCode.SUCCESS: 200,
    ApiCode.SIGNATURE_MISMATCH: 401,
    ApiCode.REST_API_SWITCH_NOT_OPEN: 403,
    ApiCode.APPID_WRONG: 404,
    ApiCode.SYSTEM_ERROR: 500,
}


def signed_string(*, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode("utf-8")


def hmac_signature(secret: str, data: bytes) -> str:
    return urlsafe_b64(hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest())


def api_response(code: ApiCode, message: str = "", *, request_id: str = "", status: int | None = None, **extra):
    code = ApiCode(code)
    body = {"resultCode": int(code), "resultMsg": code.name, "requestId": request_id or uuid.uuid4().hex}
    if message and code != ApiCode.SUCCESS:
        body["detail"] = message
    body.update(extra)
    return JsonResponse(body, status=status or HTTP_STATUS.get(code, 400), json_dumps_params={"ensure_ascii": False})


def _headers(request: HttpRequest) -> tuple[str, str, str, str]:
    get = request.headers.get
    return (get(HEADER_APP_KEY, ""), get(HEADER_TIMESTAMP, ""), get(HEADER_NONCE, ""), get(HEADER_SIGNATURE, ""))


def _check_fresh(timestamp: str, nonce: str, now_ms: int) -> None:
    # ASCII digits only: "²".isdigit() is true and int("²") raises.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 20) or not nonce or len(nonce) > 128:
        raise PushError(ApiCode.SIGNATURE_MISMATCH, "missing or malformed timestamp or nonce")
    if abs(now_ms - int(timestamp)) > settings.PUSHDECK_API_CLOCK_SKEW_SECONDS * 1000:
        raise PushError(ApiCode.SIGNATURE_MISMATCH, "timestamp is more than 5 minutes off")


def _remember_nonce(app: App, nonce: str) -> None:
    """A nonce counts once per app within the replay window: in Redis (SET NX EX), else a row."""
    fresh = first_use(f"nonce:{app.pk}:{nonce}", 2 * settings.PUSHDECK_API_CLOCK_SKEW_SECONDS)
    if fresh is not None:
        if not fresh:
            raise PushError(ApiCode.SIGNATURE_MISMATCH, "nonce was already used")
        return
    try:
        with transaction.atomic():
            ApiNonce.objects.create(app=app, nonce=nonce)
    except IntegrityError:
        raise PushError(ApiCode.SIGNATURE_MISMATCH, "nonce was already used") from None


def verify_request(
    request: HttpRequest,
    *,
    kind: str,
    now_ms: int | None = None,
    client_key: ClientKey | None = None,
    trust_kept: bool = False,
) -> App:
    """Authenticate a signed call. kind="server" (RSA) or "client" (HMAC).

    A client call is signed under the key `client_key(request, app)` names (a device's own
    credential), or under the AppSecret without one. `trust_kept`: see console.appcache. A
    call verified again (after appcache.Stale) does not take its own nonce twice.
    """
    app_key, timestamp, nonce, signature = _headers(request)
    if not app_key:
        # An unsigned call is unauthenticated (-1), not a parameter error.
        raise PushError(ApiCode.SIGNATURE_MISMATCH, f"unsigned call: the {HEADER_APP_KEY} header is missing")
    # With its key configuration and own rate limit, as this process keeps it (console.appcache).
    app = signed_app(app_key[:64], trust_kept=trust_kept)
    if app is None:
        raise PushError(ApiCode.APPID_WRONG, "unknown app key")
    request.api_app = app
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    if kind == "server":
        keys = getattr(app, "keys", None)
        if keys is None or not keys.api_enabled:
            raise PushError(ApiCode.REST_API_SWITCH_NOT_OPEN, "the Push API is switched off for this app")
        check_source(request, keys.ip_allowlist)
        _check_fresh(timestamp, nonce, now_ms)
        if not keys.customer_public_key:
            raise PushError(ApiCode.SIGNATURE_MISMATCH, "no RSA public key is configured for this app")
        data = signed_string(
            method=request.method, path=request.path, timestamp=timestamp, nonce=nonce, body=request.body
        )
        if not signature or not signature.isascii() or not rsa_verify(keys.customer_public_key, data, signature):
            raise PushError(ApiCode.SIGNATURE_MISMATCH, "signature does not match")
    else:
        _check_fresh(timestamp, nonce, now_ms)
        data = signed_string(
            method=request.method, path=request.path, timestamp=timestamp, nonce=nonce, body=request.body
        )
        secret = client_key(request, app) if client_key is not None else app.app_secret
        expected = hmac_signature(secret, data)
        # compare_digest raises TypeError on a non-ASCII str: such a header is simply wrong.
        if not signature or not signature.isascii() or not hmac.compare_digest(expected, signature):
            raise PushError(ApiCode.SIGNATURE_MISMATCH, "signature does not match")
    if not getattr(request, "api_nonce_taken", False):
        _remember_nonce(app, nonce)
        request.api_nonce_taken = True
    if kind == "server":
        # Counted after authentication, so forged calls cannot use up a customer's budget.
        check_rate(app=app)
    return app


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _int64(text: str) -> int:
    if len(text) > 20 or not -(2**63) <= (value := int(text)) < 2**63:
        raise ValueError(f"{text[:20]} is out of range")
    return value


def parse_json(request: HttpRequest) -> dict:
    """The body as a JSON object: strict JSON (no Infinity / NaN, finite doubles, 64-bit integers)."""
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise PushError(ApiCode.REQUEST_SHOULD_BE_UTF8, "the body is not UTF-8") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_int64)
    except json.JSONDecodeError as exc:
        raise PushError(ApiCode.INVALID_PARAM, f"the body is not valid JSON: {exc.msg}") from None
    except ValueError as exc:  # Infinity, NaN, 1e999, an integer beyond 64 bits
        raise PushError(ApiCode.INVALID_PARAM, f"the body is not valid JSON: {str(exc)[:80]}") from None
    except RecursionError:
        raise PushError(ApiCode.INVALID_PARAM, "the body is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise PushError(ApiCode.INVALID_PARAM, "the body must be a JSON object")
    return data


class MethodRefused(PushError):
    def __init__(self):
        super().__init__(ApiCode.INVALID_PARAM, "use POST")
        self.http_status = 405


class BodyTooLarge(PushError):
    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(ApiCode.INVALID_PARAM, f"the request body is larger than {limit} bytes")
        self.http_status = 413


ClientKey = Callable[[HttpRequest, App], str]


def signed_api(kind: str = "server", *, client_key: ClientKey | None = None, trust_kept: bool = False) -> Callable:
    """Decorator for API views: POST only, signature, JSON body; PushError becomes the SPEC answer.

    The view is called as view(request, app=app, data=data) and returns a dict
    (merged into a SUCCESS answer) or a response.

    `trust_kept`: the view's work ends in one write statement guarded by the configuration
    generation, so the call does not read the generation first (console.appcache). A refusal
    is given only once the generation is confirmed current. If the configuration moved
    (appcache.Stale), the call is verified and run again under the configuration read anew.
    """

    def decorator(view):
        def answer(request: HttpRequest, *args, trust_kept: bool, **kwargs):
            try:
                app = verify_request(request, kind=kind, client_key=client_key, trust_kept=trust_kept)
                request.api_authenticated = True
                return view(request, *args, app=app, data=parse_json(request), **kwargs)
            except PushError:
                if trust_kept and request.api_app is not None:
                    # Refused under the kept configuration: only if it is still the current one
                    # (a switched-on API or a raised limit must not stay refused).
                    confirm(request.api_app)
                raise

        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            request_id = uuid.uuid4().hex
            request.api_app = None
            request.api_authenticated = False
            request.api_device = None
            try:
                if request.method != "POST":
                    raise MethodRefused()
                try:
                    request.body  # noqa: B018 - read now so an oversized body is refused before anything else
                except RequestDataTooBig:
                    raise BodyTooLarge() from None
                try:
                    result = answer(request, *args, trust_kept=trust_kept, **kwargs)
                except Stale:
                    request.api_authenticated = False
                    result = answer(request, *args, trust_kept=False, **kwargs)
            except PushError as error:
                audit_refusal(request, error, app=request.api_app, kind=kind)
                extra = {"errorDetails": error.details} if error.details else {}
                response = api_response(
                    error.code,
                    error.message,
                    request_id=request_id,
                    status=getattr(error, "http_status", None),
                    **extra,
                )
                if getattr(error, "retry_after", None) is not None:
                    response["Retry-After"] = str(error.retry_after)
                return response
            except Exception:
                logger.exception("API call failed")
                return api_response(ApiCode.SYSTEM_ERROR, "internal error", request_id=request_id)
            if isinstance(result, dict):
                return api_response(ApiCode.SUCCESS, request_id=request_id, **result)
            return result

        wrapper.signed_api = kind
        return wrapper

    return decorator


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /api/v1/: JSON like every API answer, never the console's HTML page."""
    return api_response(ApiCode.INVALID_PARAM, f"no API endpoint at {request.path[:200]}", status=404)


def purge_nonces(*, older_than: timedelta | None = None) -> int:
    """Nonces older than twice the clock-skew window can never be replayed."""
    cutoff = timezone.now() - (older_than or timedelta(seconds=2 * settings.PUSHDECK_API_CLOCK_SKEW_SECONDS))
    deleted, _ = ApiNonce.objects.filter(seen_at__lt=cutoff).delete()
    return deleted
