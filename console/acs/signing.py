"""Request signatures of the Alibaba Cloud door: the Verifier interface and ACS3-HMAC-SHA256.

A verifier recognises its requests (`applies`), reads what they claim (`parse`, nothing
trusted yet) and checks the signature under the AccessKey secret (`check_signature`).
The door does the rest (key state, date window, nonce) the same way for every verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from django.http import HttpRequest

from .door import DoorError, SignedCall, register_verifier

ACS3 = "ACS3-HMAC-SHA256"
# Headers a signature must cover, or a proxy or attacker could change them unseen.
ACS3_REQUIRED_SIGNED = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
)
_AUTH = re.compile(
    r"^ACS3-HMAC-SHA256\s+Credential=([^,\s]*),\s*SignedHeaders=([^,\s]*),\s*Signature=([0-9a-fA-F]*)\s*$"
)


def percent(value: str) -> str:
    """RFC 3986 encoding, as Alibaba Cloud signs: only unreserved characters stay."""
    return quote(value, safe="~", encoding="utf-8")


def decode_pairs(text: str) -> list[tuple[str, str]]:
    """A query string or form body as (key, value) pairs, `+` read as a space; bad UTF-8 is refused."""
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise DoorError(400, "InvalidParameter", "The request is not UTF-8.") from None


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted((k, v) for k, v in pairs))


def acs3_string_to_sign(
    *, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], signed: list[str], body: bytes
) -> str:
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed)
    canonical = "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    return f"{ACS3}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def hmac_hex(secret: str, text: str) -> str:
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def form_params(request: HttpRequest) -> dict[str, str]:
    """Query and form body parameters (the body wins); the SDKs send one or the other."""
    params = dict(decode_pairs(request.META.get("QUERY_STRING", "")))
    content_type = (request.content_type or "").lower()
    if request.body and content_type in ("application/x-www-form-urlencoded", ""):
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise DoorError(400, "InvalidParameter", "The request body is not UTF-8.") from None
        params.update(decode_pairs(text))
    return params


def parse_iso_utc(value: str) -> datetime | None:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class Verifier(ABC):
    """One signature scheme of the door."""

    name = ""

    @abstractmethod
    def applies(self, request: HttpRequest) -> bool:
        """True when `request` carries this scheme's signature."""

    @abstractmethod
    def parse(self, request: HttpRequest) -> SignedCall:
        """The key id, date, nonce and action the request claims (DoorError when malformed)."""

    @abstractmethod
    def check_signature(self, request: HttpRequest, signed: SignedCall, secret: str) -> None:
        """Raise DoorError unless the request is signed with `secret`."""


def signature_mismatch(string_to_sign: str) -> DoorError:
    # Alibaba's wording: SDKs compare the part after ":" with their own string to sign.
    return DoorError(
        400,
        "SignatureDoesNotMatch",
        f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}",
    )


class Acs3Verifier(Verifier):
    """Alibaba Cloud's V3 request signature, as the Tea SDKs send it."""

    name = ACS3

    def applies(self, request: HttpRequest) -> bool:
        return bool(request.headers.get("x-acs-action")) or request.headers.get("Authorization", "").startswith("ACS3-")

    def parse(self, request: HttpRequest) -> SignedCall:
        get = request.headers.get
        action, version = get("x-acs-action", ""), get("x-acs-version", "")
        if not action:
            raise DoorError(400, "MissingParameter", "The x-acs-action header is missing.")
        if not version:
            raise DoorError(400, "MissingParameter", "The x-acs-version header is missing.")
        match = _AUTH.match(get("Authorization", ""))
        if match is None:
            raise DoorError(
                400,
                "IncompleteSignature",
                f"The Authorization header is missing or is not {ACS3} Credential=…,SignedHeaders=…,Signature=…",
            )
        credential, signed_headers, signature = match.groups()
        names = signed_headers.split(";") if signed_headers else []
        absent = [h for h in ACS3_REQUIRED_SIGNED if h not in names]
        if absent or names != sorted(names) or any(n != n.lower() for n in names):
            raise DoorError(
                400,
                "IncompleteSignature",
                "SignedHeaders must be sorted, lower case and include " + ", ".join(ACS3_REQUIRED_SIGNED) + ".",
            )
        return SignedCall(
            access_key_id=credential,
            action=action,
            version=version,
            date=parse_iso_utc(get("x-acs-date", "")),
            nonce=get("x-acs-signature-nonce", ""),
            params=form_params(request),
            extra={"signed_headers": names, "signature": signature.lower()},
        )

    def check_signature(self, request: HttpRequest, signed: SignedCall, secret: str) -> None:
        headers = {name: request.headers.get(name, "") for name in signed.extra["signed_headers"]}
        text = acs3_string_to_sign(
            method=request.method,
            path=request.path,
            query=decode_pairs(request.META.get("QUERY_STRING", "")),
            headers=headers,
            signed=signed.extra["signed_headers"],
            body=request.body,
        )
        expected = hmac_hex(secret, text)
        if not hmac.compare_digest(expected, signed.extra["signature"]):
            raise signature_mismatch(text)
        # The claimed body hash must be the body we received (it is signed, but never trusted).
        if request.headers.get("x-acs-content-sha256", "").lower() != hashlib.sha256(request.body).hexdigest():
            raise signature_mismatch(text)


register_verifier(Acs3Verifier())


def acs3_headers(
    *,
    access_key_id: str,
    secret: str,
    action: str,
    version: str,
    host: str,
    body: bytes,
    date: str,
    nonce: str,
    query: list[tuple[str, str]] | None = None,
    path: str = "/",
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """Sign a call as the Tea SDKs do (for raw clients, tests and scripts)."""
    headers = {
        "host": host,
        "x-acs-action": action,
        "x-acs-version": version,
        "x-acs-date": date,
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    if body:
        headers["content-type"] = content_type
    signed = sorted(headers)
    text = acs3_string_to_sign(method="POST", path=path, query=query or [], headers=headers, signed=signed, body=body)
    headers["authorization"] = (
        f"{ACS3} Credential={access_key_id},SignedHeaders={';'.join(signed)},Signature={hmac_hex(secret, text)}"
    )
    return headers
