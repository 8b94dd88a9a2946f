"""Alibaba Cloud's RPC request signature, version 1.0 (HMAC-SHA1), as the older SDKs send it.

`aliyun-python-sdk-core` (and `aliyun-java-sdk-core`) put every parameter in the query
string: the action's own (`AppKey`, `Target`, ...) and the signature's (`AccessKeyId`,
`SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`, `SignatureNonce`, `Timestamp`,
`Format`, `RegionId`, `SignatureType`, `Action`, `Version`) plus `Signature`.

String to sign, exactly: the method, `%2F` (the encoded path `/`) and the encoded
canonical query, joined by `&`; the canonical query is every query and form parameter
but `Signature` (empty ones included), keys and values RFC 3986 percent-encoded, sorted
by key, `k=v` joined by `&`. The signature is base64(HMAC-SHA1(secret + "&", string)).

`parse` and `string_to_sign` are pure; `RpcVerifier` plugs them into the door
(`console.acs.door`), which checks the key, the date window and nonce replay for every
signature version alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from django.http import HttpRequest

from .door import DoorError, SignedCall, register_verifier
from .signing import Verifier, decode_pairs, parse_iso_utc, signature_mismatch

# Parameters of the signature and the call envelope, never an action's own field.
ENVELOPE = frozenset(
    {
        "AccessKeyId",
        "Action",
        "Version",
        "Format",
        "RegionId",
        "Signature",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "SignatureType",
        "Timestamp",
    }
)
SIGNATURE_METHOD = "HMAC-SHA1"
SIGNATURE_VERSION = "1.0"


class RpcSignatureError(Exception):
    """A request that cannot even be checked: `code` is Alibaba's error code, `message` says why."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class RpcSigned:
    access_key_id: str
    action: str
    version: str
    nonce: str
    timestamp: datetime
    signature: str
    string_to_sign: str
    # The action's own parameters (the envelope removed).
    params: dict[str, str]

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(sign(secret, self.string_to_sign), self.signature)


def percent_encode(value: str) -> str:
    """RFC 3986: everything but A-Z a-z 0-9 - _ . ~ is %XX of its UTF-8 bytes."""
    return quote(value, safe="-_.~")


def string_to_sign(method: str, params: list[tuple[str, str]]) -> str:
    pairs = sorted((k, v) for k, v in params if k != "Signature")
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs)
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(secret: str, text: str) -> str:
    digest = hmac.new((secret + "&").encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def parse(method: str, params: list[tuple[str, str]]) -> RpcSigned:
    """Read the signature parameters of a request (query and form pairs, decoded). Checks their
    form, not the signature: that needs the key's secret (`RpcSigned.matches`)."""
    seen: dict[str, str] = {}
    for key, value in params:
        if key in seen:
            raise RpcSignatureError("InvalidParameter", f"The parameter {key} is given more than once.")
        seen[key] = value
    for name in ("AccessKeyId", "Action", "Version", "Signature", "SignatureNonce", "Timestamp"):
        if not seen.get(name):
            raise RpcSignatureError("MissingParameter", f"The input parameter {name} that is mandatory is missing.")
    if seen.get("SignatureMethod") != SIGNATURE_METHOD:
        raise RpcSignatureError("InvalidParameter", "SignatureMethod is not supported: use HMAC-SHA1.")
    if seen.get("SignatureVersion") != SIGNATURE_VERSION:
        raise RpcSignatureError("InvalidParameter", "SignatureVersion is not supported: use 1.0.")
    timestamp = parse_iso_utc(seen["Timestamp"])
    if timestamp is None:
        raise RpcSignatureError("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
    return RpcSigned(
        access_key_id=seen["AccessKeyId"],
        action=seen["Action"],
        version=seen["Version"],
        nonce=seen["SignatureNonce"],
        timestamp=timestamp,
        signature=seen["Signature"],
        string_to_sign=string_to_sign(method, params),
        params={k: v for k, v in seen.items() if k not in ENVELOPE},
    )


# The door's verifier -------------------------------------------------------------------


class RpcVerifier(Verifier):
    """RPC signature 1.0: the older SDKs (they also send an unsigned x-acs-action, so this one goes first)."""

    name = "RPC 1.0 (HMAC-SHA1)"

    def applies(self, request: HttpRequest) -> bool:
        query = request.META.get("QUERY_STRING", "")
        return "Signature=" in query and "SignatureMethod=" in query

    def pairs(self, request: HttpRequest) -> list[tuple[str, str]]:
        """Query and form parameters: both are signed (the old SDK sends repeat lists in the body)."""
        pairs = decode_pairs(request.META.get("QUERY_STRING", ""))
        content_type = (request.content_type or "").lower()
        if request.body and content_type in ("application/x-www-form-urlencoded", ""):
            try:
                pairs += decode_pairs(request.body.decode("utf-8"))
            except UnicodeDecodeError:
                raise DoorError(400, "InvalidParameter", "The request body is not UTF-8.") from None
        return pairs

    def parse(self, request: HttpRequest) -> SignedCall:
        try:
            rpc = parse(request.method, self.pairs(request))
        except RpcSignatureError as error:
            raise DoorError(error.status, error.code, error.message) from None
        return SignedCall(
            access_key_id=rpc.access_key_id,
            action=rpc.action,
            version=rpc.version,
            date=rpc.timestamp,
            nonce=rpc.nonce,
            params=rpc.params,
            extra={"rpc": rpc},
        )

    def check_signature(self, request: HttpRequest, signed: SignedCall, secret: str) -> None:
        rpc: RpcSigned = signed.extra["rpc"]
        if not rpc.matches(secret):
            raise signature_mismatch(rpc.string_to_sign)


register_verifier(RpcVerifier(), first=True)
