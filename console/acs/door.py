"""Routing, errors, AccessKey state, date window and nonces of the Alibaba Cloud door (see __init__)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from console.apicodes import ApiCode, PushError
from console.audit import audit_record
from console.models import ROLE_PERMS, App, Membership, Perm

from .models import AccessKey, DoorNonce

logger = logging.getLogger(__name__)


class DoorError(Exception):
    """A refusal the SDKs read: HTTP `status`, JSON {RequestId, Code, Message}."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def missing(name: str) -> DoorError:
    return DoorError(
        400,
        "MissingParameter",
        f"The input parameter “{name}” that is mandatory for processing this request is not supplied.",
    )


def invalid(name: str, why: str) -> DoorError:
    return DoorError(400, "InvalidParameter", f"The parameter “{name}” is invalid: {why}")


@dataclass
class SignedCall:
    """What a verifier read from a request, before anything is trusted."""

    access_key_id: str
    action: str
    version: str
    date: datetime | None
    nonce: str
    params: dict[str, str]
    # Verifier-specific state carried from parse() to check_signature().
    extra: dict = field(default_factory=dict)


@dataclass
class Call:
    """One authenticated call, as a handler sees it."""

    request: HttpRequest
    action: str
    version: str
    params: dict[str, str]
    access_key: AccessKey
    request_id: str

    @property
    def user(self):
        return self.access_key.user

    @property
    def actor_label(self) -> str:
        return f"{self.user.get_username()} (AccessKey {self.access_key.access_key_id})"

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise missing(name)
        return value


Handler = Callable[[Call], dict]
_ACTIONS: dict[tuple[str, str], Handler] = {}
_PUSH_ERROR_RENDERERS: dict[str, Callable[[Call, PushError], dict]] = {}
_VERIFIERS: list = []


def register(version: str, name: str, handler: Handler) -> None:
    key = (version, name)
    if key in _ACTIONS and _ACTIONS[key] is not handler:
        raise RuntimeError(f"action {name} of {version} is registered twice")
    _ACTIONS[key] = handler


def action(version: str, name: str) -> Callable[[Handler], Handler]:
    """Decorator: register the handler of one action of one API version."""

    def decorator(handler: Handler) -> Handler:
        register(version, name, handler)
        return handler

    return decorator


def on_push_error(version: str, renderer: Callable[[Call, PushError], dict]) -> None:
    """How a version answers a PushError its handlers raise (default: HTTP 400 InvalidParameter)."""
    _PUSH_ERROR_RENDERERS[version] = renderer


def register_verifier(verifier, *, first: bool = False) -> None:
    """Add a signature scheme; `first` tries it before the others (it recognises its requests
    more narrowly: the older SDKs also send an unsigned x-acs-action)."""
    if any(type(v) is type(verifier) for v in _VERIFIERS):
        return
    if first:
        _VERIFIERS.insert(0, verifier)
    else:
        _VERIFIERS.append(verifier)


def actions(version: str | None = None) -> list[tuple[str, str]]:
    return sorted(k for k in _ACTIONS if version is None or k[0] == version)


def handler_for(version: str, name: str) -> Handler:
    if not any(v == version for v, _ in _ACTIONS):
        raise DoorError(400, "InvalidVersion", f"Specified API version “{version[:40]}” is not supported.")
    handler = _ACTIONS.get((version, name))
    if handler is None:
        raise DoorError(
            404, "InvalidAction.NotFound", f"Specified API “{name[:60]}” is not found in version {version}."
        )
    return handler


def verifier_for(request: HttpRequest):
    for verifier in _VERIFIERS:
        if verifier.applies(request):
            return verifier
    return None


def app_for(call: Call, app: App | None, perm: str) -> App:
    """The app when the key's user holds `perm` in it; Forbidden otherwise (also for an unknown app)."""
    user = call.user
    if app is not None:
        membership = Membership.objects.filter(user=user, app=app).first()
        if user.is_superuser or (membership is not None and perm in ROLE_PERMS.get(membership.role, frozenset())):
            guard_app(call, app)
            return app
    raise DoorError(
        403,
        "Forbidden",
        f"User {user.get_username()} is not allowed to {Perm(perm).name.lower()} in this app.",
    )


def guard_app(call: Call, app: App) -> None:
    """The app's own guards of its signed APIs hold at this door too: its allowed source
    addresses (403 Forbidden.SourceAddress) and its calls per minute (429 Throttling.User)."""
    from console.models import KeyConfig
    from console.security.api import AddressRefused, RateLimited, check_rate, check_source

    keys = KeyConfig.objects.filter(app=app).only("ip_allowlist").first()
    try:
        check_source(call.request, keys.ip_allowlist if keys else "")
        check_rate(app=app)
    except AddressRefused as refused:
        raise DoorError(403, "Forbidden.SourceAddress", refused.message) from None
    except RateLimited as limited:
        raise DoorError(
            429, "Throttling.User", limited.message, headers={"Retry-After": str(limited.retry_after)}
        ) from None


def json_response(status: int, body: dict) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json; charset=utf-8"
    )


def error_response(error: DoorError, request_id: str) -> HttpResponse:
    response = json_response(error.status, {"RequestId": request_id, "Code": error.code, "Message": error.message})
    for name, value in error.headers.items():
        response[name] = value
    return response


def check_date(date: datetime | None, *, now: datetime | None = None) -> None:
    window = timedelta(seconds=settings.ACS_DATE_WINDOW_SECONDS)
    if date is None:
        raise DoorError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
    if abs((now or timezone.now()) - date) > window:
        raise DoorError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")


def remember_nonce(access_key_id: str, nonce: str) -> None:
    if not nonce or len(nonce) > 128:
        raise DoorError(400, "MissingSignatureNonce", "The signature nonce is missing or longer than 128 characters.")
    try:
        with transaction.atomic():
            DoorNonce.objects.create(access_key_id=access_key_id, nonce=nonce)
    except IntegrityError:
        raise DoorError(400, "SignatureNonceUsed", "Specified signature nonce was used already.") from None


def purge_nonces(*, now: datetime | None = None) -> int:
    """Nonces older than twice the date window can never be replayed."""
    cutoff = (now or timezone.now()) - timedelta(seconds=2 * settings.ACS_DATE_WINDOW_SECONDS)
    deleted, _ = DoorNonce.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


def authenticate(request: HttpRequest, verifier, signed: SignedCall) -> AccessKey:
    """Key state, signature, date window, nonce: in this order, and nothing is written for a refusal."""
    key = AccessKey.objects.select_related("user").filter(access_key_id=signed.access_key_id[:64]).first()
    if key is None or not signed.access_key_id:
        raise DoorError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
    request.door_key = key
    if not key.enabled or not key.user.is_active:
        raise DoorError(403, "InvalidAccessKeyId.Inactive", "Specified access key is disabled.")
    verifier.check_signature(request, signed, key.secret)
    check_date(signed.date)
    remember_nonce(key.access_key_id, signed.nonce)
    AccessKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key


def _audit_refusal(request: HttpRequest, error: DoorError, signed: SignedCall | None) -> None:
    key = getattr(request, "door_key", None)
    if key is None:
        logger.info("door refused %s (%s)", error.code, error.status)
        return
    audit_record(
        action="door.refused",
        actor=key.user,
        actor_label=f"{key.user.get_username()} (AccessKey {key.access_key_id})",
        target=f"{signed.version} {signed.action}"[:300] if signed else "",
        summary={"code": error.code, "status": error.status},
        request=request,
    )


def serve(request: HttpRequest) -> HttpResponse:
    """Answer one door call (the middleware calls this for every request a verifier recognises)."""
    request_id = str(uuid.uuid4()).upper()
    request.door_key = None
    signed = None
    try:
        try:
            request.body  # noqa: B018 - read now so an oversized body is refused first
        except RequestDataTooBig:
            raise DoorError(
                413, "RequestTooLarge", f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
            ) from None
        verifier = verifier_for(request)
        signed = verifier.parse(request)
        handler = handler_for(signed.version, signed.action)
        key = authenticate(request, verifier, signed)
        call = Call(
            request=request,
            action=signed.action,
            version=signed.version,
            params=signed.params,
            access_key=key,
            request_id=request_id,
        )
        try:
            body = handler(call)
        except PushError as error:
            renderer = _PUSH_ERROR_RENDERERS.get(signed.version)
            if renderer is None:
                raise DoorError(
                    400, "InvalidParameter", f"{int(error.code)} {error.code.name}: {error.message}"
                ) from None
            body = renderer(call, error)
    except DoorError as error:
        _audit_refusal(request, error, signed)
        return error_response(error, request_id)
    except Exception:
        logger.exception("door call failed")
        return error_response(
            DoorError(500, "InternalError", "The request processing has failed due to some unknown error."), request_id
        )
    return json_response(200, {"RequestId": request_id, **body})


__all__ = [
    "ApiCode",
    "Call",
    "DoorError",
    "SignedCall",
    "action",
    "app_for",
    "invalid",
    "missing",
    "on_push_error",
    "register",
    "register_verifier",
    "serve",
]
