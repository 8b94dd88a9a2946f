"""The one `#placeholder#` renderer of the product.

Console sends, the server API, CSV multiple push and broadcast all call
`render_message`; `check_payload_size` checks the built APNs / FCM payloads
against their byte limits. Pure functions: no database, no settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from campaigns.codes import ApiCode, PushError
from campaigns.gateways.base import OutgoingPush
from campaigns.payloads import apns_payload, fcm_message

# A placeholder is #name# with a name of letters, digits and underscores.
PLACEHOLDER_RE = re.compile(r"#([A-Za-z0-9_]+)#")

# Limits re-checked after substitution (SPEC "Templates", "Targets ...").
TITLE_MAX_CHARS = 200
ANDROID_TITLE_MAX_CHARS = 50
IOS_TITLE_MAX_BYTES = 200
BODY_MAX_CHARS = 200
URL_MAX_CHARS = 1000
APNS_PAYLOAD_MAX_BYTES = 4096
ANDROID_PAYLOAD_MAX_BYTES = 4000


def placeholders(*texts: str) -> list[str]:
    """Placeholder names in order of first appearance, each once."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in PLACEHOLDER_RE.finditer(text or ""):
            seen.setdefault(match.group(1), None)
    return list(seen)


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every #name# by its value, literally and in one pass.

    A value that itself contains `#x#` is not expanded again. Names without a
    value are left as they are (callers check completeness first).
    """

    def replace(match: re.Match) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else str(value)

    return PLACEHOLDER_RE.sub(replace, text or "")


@dataclass(frozen=True)
class Overflow:
    field: str
    limit: int
    unit: str  # "characters" or "bytes"
    actual: int

    def __str__(self) -> str:
        return f"{self.field} is {self.actual} {self.unit} after substitution; the limit is {self.limit}"


@dataclass(frozen=True)
class RenderedMessage:
    title: str
    body: str
    url: str
    extra_keys: tuple[str, ...] = field(default=())


def missing_keys(names: Iterable[str], values: Mapping[str, str | None]) -> list[str]:
    """Every placeholder without a value (None counts as missing), in order."""
    return [name for name in names if name not in values or values[name] is None]


def check_lengths(*, title: str, body: str, url: str = "", platform: str = "") -> list[Overflow]:
    """Every length rule the rendered text breaks (empty list when it fits)."""
    problems = []
    if len(title) > TITLE_MAX_CHARS:
        problems.append(Overflow("title", TITLE_MAX_CHARS, "characters", len(title)))
    if platform == "android" and len(title) > ANDROID_TITLE_MAX_CHARS:
        problems.append(Overflow("title", ANDROID_TITLE_MAX_CHARS, "characters", len(title)))
    if platform == "ios" and len(title.encode("utf-8")) > IOS_TITLE_MAX_BYTES:
        problems.append(Overflow("title", IOS_TITLE_MAX_BYTES, "bytes", len(title.encode("utf-8"))))
    if len(body) > BODY_MAX_CHARS:
        problems.append(Overflow("body", BODY_MAX_CHARS, "characters", len(body)))
    if len(url) > URL_MAX_CHARS:
        problems.append(Overflow("url", URL_MAX_CHARS, "characters", len(url)))
    return problems


def render_message(
    *,
    title: str,
    body: str,
    url: str = "",
    values: Mapping[str, str] | None = None,
    platform: str = "",
    strict_extra: bool = False,
) -> RenderedMessage:
    """Render title, body and URL with `values`.

    Raises PushError 3023 (TEMPLATEKV_NOT_ENOUGH) naming every missing key at
    once, 3028 for extra keys when `strict_extra`, and 3043 naming the field and
    limit when the rendered text overflows.
    """
    names = placeholders(title, body, url)
    missing = missing_keys(names, values or {})
    if missing:
        raise PushError(
            ApiCode.TEMPLATEKV_NOT_ENOUGH,
            "missing values for: " + ", ".join(missing),
            details={"missing": missing},
        )
    values = {str(k): str(v) for k, v in (values or {}).items() if v is not None}
    extra = tuple(sorted(set(values) - set(names)))
    if extra and strict_extra:
        raise PushError(ApiCode.INVALID_PARAM, "unknown placeholders: " + ", ".join(extra), details={"extra": extra})
    rendered = RenderedMessage(
        title=substitute(title, values), body=substitute(body, values), url=substitute(url, values), extra_keys=extra
    )
    overflows = check_lengths(title=rendered.title, body=rendered.body, url=rendered.url, platform=platform)
    if overflows:
        raise PushError(
            ApiCode.SINGLE_PUSH_CONTENT_TOO_LONG,
            "; ".join(str(o) for o in overflows),
            field=overflows[0].field,
            details={"overflows": [o.__dict__ for o in overflows]},
        )
    return rendered


def payload_sizes(push: OutgoingPush) -> dict[str, int]:
    """UTF-8 bytes of the compact JSON each gateway receives for `push`."""

    def size(obj: dict) -> int:
        return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))

    return {"apns": size(apns_payload(push)), "fcm": size(fcm_message(push)["message"])}


def check_payload_size(push: OutgoingPush) -> list[Overflow]:
    """Payload limits after substitution: APNs 4096 bytes, FCM and vendor channels 4000 bytes."""
    sizes = payload_sizes(push)
    problems = []
    if sizes["apns"] > APNS_PAYLOAD_MAX_BYTES:
        problems.append(Overflow("APNs payload", APNS_PAYLOAD_MAX_BYTES, "bytes", sizes["apns"]))
    if sizes["fcm"] > ANDROID_PAYLOAD_MAX_BYTES:
        problems.append(Overflow("FCM/vendor payload", ANDROID_PAYLOAD_MAX_BYTES, "bytes", sizes["fcm"]))
    return problems


def raise_for_payload_size(push: OutgoingPush) -> None:
    """PushError 3050 (MSG_PAYLOAD_TOO_LONG) naming the payload and its limit."""
    overflows = check_payload_size(push)
    if overflows:
        raise PushError(
            ApiCode.MSG_PAYLOAD_TOO_LONG,
            "; ".join(str(o) for o in overflows),
            field=overflows[0].field,
            details={"overflows": [o.__dict__ for o in overflows]},
        )
