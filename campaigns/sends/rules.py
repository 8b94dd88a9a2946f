"""The SPEC's send rules, shared by the console forms, the server API and the CSV ingest.

Each check raises PushError with the SPEC code; forms turn it into a field error.
Pure functions apart from `customer_msg_id_taken` (one query).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext

from campaigns.codes import ApiCode, PushError
from campaigns.models import Message
from console.validation import http_url_ok, name_ok, target_id_ok, text_ok

EXPIRE_DEFAULT_SECONDS = 180
EXPIRE_MAX_SECONDS = 72 * 3600  # offline storage up to 72 h
SCHEDULE_MAX_AHEAD = timedelta(days=7)
SINGLE_PUSH_MAX_TARGETS = 10  # simple and template
MULTIPLE_API_MAX_TARGETS = 400  # targetMsg per API call
MULTIPLE_API_MAX_EXTRAS = 10  # extension parameters per target message (API)
BATCH_MAX_TARGETS = 1000  # accounts / aliases / devices per request
EXTRAS_MAX = 20
CUSTOMER_MSG_ID_MAX = 64
PAYLOAD_MAX_BYTES = 4000

RESERVED_EXTRA_KEYS = frozenset({"notifyType", "action", "silent", "pushType", "templateCode", "channel", "taskId"})
MEANINGFUL_EXTRA_KEYS = ("sound", "badge", "mutable-content", "badge_add_num", "badge_class", "big_text")


def new_customer_msg_id() -> str:
    """Auto-generated customer message id (editable in the form)."""
    return "pd" + timezone.now().strftime("%Y%m%d%H%M%S") + secrets.token_hex(6)


def check_expire_seconds(seconds: int | None) -> int:
    if seconds is None:
        return EXPIRE_DEFAULT_SECONDS
    if seconds <= 0:
        raise PushError(ApiCode.EXPIREDSECONDS_WRONG, "expiredSeconds must be a positive number of seconds")
    if seconds > EXPIRE_MAX_SECONDS:
        raise PushError(ApiCode.EXPIREDTIME_TOO_LONG, f"expiredSeconds is at most {EXPIRE_MAX_SECONDS} (72 hours)")
    return seconds


def check_extras(
    extras: Mapping[str, str], *, limit: int = EXTRAS_MAX, too_many: ApiCode = ApiCode.EXTEND_PARAM_TO_MUCH
):
    """Extension parameters: at most `limit`, no reserved key, badge and big_text rules."""
    if not isinstance(extras, Mapping):
        raise PushError(ApiCode.INVALID_EXTEND_PARAM, "extension parameters are key/value pairs")
    if len(extras) > limit:
        raise PushError(too_many, f"at most {limit} extension parameters")
    clean: dict[str, str] = {}
    for key, value in extras.items():
        key = str(key).strip()
        if not key:
            raise PushError(ApiCode.INVALID_EXTEND_PARAM, "an extension parameter has an empty key")
        if key in RESERVED_EXTRA_KEYS:
            raise PushError(ApiCode.INVALID_EXTEND_PARAM, f"'{key}' is a reserved key")
        clean[key] = "" if value is None else str(value)
    if "badge_add_num" in clean:
        if "badge_class" not in clean:
            raise PushError(ApiCode.BADGE_ADD_NUM_NEED_BADGE_CLASS, "badge_add_num needs badge_class")
        try:
            int(clean["badge_add_num"])
        except ValueError:
            raise PushError(ApiCode.BADGE_ADD_NUM_INVALID, "badge_add_num must be a whole number") from None
    if "big_text" in clean and clean["big_text"] != "1":
        raise PushError(ApiCode.INVALID_EXTEND_PARAM, "big_text must be 1")
    return clean


def parse_extras_text(text: str) -> dict[str, str]:
    """The console's 'one key=value per line' box."""
    extras: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise PushError(ApiCode.INVALID_EXTEND_PARAM, f"line {number}: write key=value")
        extras[key.strip()] = value.strip()
    return extras


def check_customer_msg_id(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise PushError(ApiCode.INVALID_PARAM, "the customer message id is empty")
    if len(value) > CUSTOMER_MSG_ID_MAX:
        raise PushError(ApiCode.INVALID_PARAM, f"the customer message id is longer than {CUSTOMER_MSG_ID_MAX}")
    return value


def customer_msg_ids_taken(app, ids: list[str]) -> list[str]:
    return list(Message.objects.filter(app=app, customer_msg_id__in=ids).values_list("customer_msg_id", flat=True))


def check_url(url: str, what: str = "the click URL") -> str:
    """The one URL rule (console.validation): http or https only, whatever door the send came by."""
    if url and not http_url_ok(url):
        raise PushError(ApiCode.INVALID_PARAM, f"{what} must be an http:// or https:// URL")
    return url


def check_texts(*, name: str, title: str, body: str) -> None:
    """The one name rule and the one free-text rule (console.validation): no control characters."""
    if name and not name_ok(name):
        raise PushError(ApiCode.INVALID_PARAM, "the task name has control characters")
    if not text_ok(title or "") or not text_ok(body or ""):
        raise PushError(ApiCode.INVALID_PARAM, "the title or body has control characters")


def check_target_ids(targets) -> None:
    """The one target id rule: 1-128 printable characters, no markup characters."""
    for target in targets:
        if not target_id_ok(target):
            raise PushError(ApiCode.INVALID_PARAM, "a target id has characters that are not allowed")


def check_single_targets(targets: list[str], *, limit: int = SINGLE_PUSH_MAX_TARGETS) -> list[str]:
    targets = [t.strip() for t in targets if t and t.strip()]
    if not targets:
        raise PushError(ApiCode.TOKEN_OR_USERID_NULL, "give at least one target id")
    check_target_ids(targets)
    if len(targets) > limit:
        raise PushError(ApiCode.SINGLE_PUSH_TARGET_TOO_MUCH, f"at most {limit} targets")
    if len(set(targets)) != len(targets):
        raise PushError(ApiCode.INVALID_PARAM, "a target id appears twice")
    return targets


def check_schedule(at: datetime | None, *, now: datetime | None = None) -> datetime | None:
    if at is None:
        return None
    now = now or timezone.now()
    if at <= now:
        raise PushError(ApiCode.INVALID_PARAM, "the scheduled time is in the past")
    if at - now > SCHEDULE_MAX_AHEAD:
        raise PushError(ApiCode.INVALID_PARAM, "a send can be scheduled at most 7 days ahead")
    return at


def check_unbind_period(*, platform: str, unbind_period: int | None, channel: str) -> int:
    """Broadcast audience: iOS picks 1 (logged in) .. 5 (ever); Android self-built only logged in."""
    if platform == "ios":
        if unbind_period is None:
            raise PushError(ApiCode.BROADCAST_ALL_USER_NEED_UNBIND_PERIOD, "iOS broadcast needs unBindPeriod")
        if unbind_period not in (1, 2, 3, 4, 5):
            raise PushError(ApiCode.BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID, "unBindPeriod is 1 to 5")
        return unbind_period
    unbind_period = unbind_period or 1
    if unbind_period not in (1, 2, 3, 4, 5):
        raise PushError(ApiCode.BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID, "unBindPeriod is 1 to 5")
    # 3053: the Android self-built channel cannot reach logged-out users.
    if unbind_period != 1 and channel == "selfbuilt":
        raise PushError(
            ApiCode.BROADCAST_ALL_USER_NOT_SUPPORT_SELFCHANNEL_ANDROID,
            "the Android self-built channel cannot reach logged-out users",
        )
    return unbind_period


def check_payload_size(payload: dict, *, title: str, body: str) -> None:
    size = len(json.dumps({"title": title, "body": body, **payload}, ensure_ascii=False).encode("utf-8"))
    if size > PAYLOAD_MAX_BYTES:
        raise PushError(ApiCode.MSG_PAYLOAD_TOO_LONG, f"the message is {size} bytes; the limit is {PAYLOAD_MAX_BYTES}")


def ios_block_reason(app) -> str:
    """Why iOS sends are blocked (expired APNs certificate), or ''."""
    try:
        from console.credentials.services import ios_send_block_reason
    except ImportError:
        return ""
    return ios_send_block_reason(app) or ""


# Vendor limits smaller than what a send may ask (GATEWAYS.md). The gateways keep within them (vivo keeps
# a message one day at most and cuts longer texts); the console preview, the task page and the API say so
# before anything goes out. Meizu's 100 push ids per request need no note: the engine splits.
VENDOR_LIMITS: dict[str, dict[str, int]] = {
    "vivo": {"title": 40, "body": 100, "validity": 86400},
    "xiaomi": {"title": 49, "body": 127},
}
VENDOR_NAMES = {"vivo": "vivo", "xiaomi": "Xiaomi"}


def vendor_limit_notes(*, vendors, title_length: int, body_length: int, expire_seconds: int) -> list[dict]:
    """Where a vendor channel the send may go through allows less than asked: one note per vendor and limit
    ({"vendor", "limit": title|body|validity, "asked", "max"}), stored with the task and shown as text."""
    asked = {"title": title_length, "body": body_length, "validity": expire_seconds}
    notes = []
    for vendor in sorted(set(vendors) & VENDOR_LIMITS.keys()):
        for limit, most in VENDOR_LIMITS[vendor].items():
            if asked[limit] > most:
                notes.append({"vendor": vendor, "limit": limit, "asked": asked[limit], "max": most})
    return notes


def vendor_note_text(note: dict) -> str:
    """A stored note in the reader's language."""
    values = {"vendor": VENDOR_NAMES.get(note["vendor"], note["vendor"]), "asked": note["asked"], "max": note["max"]}
    if note["limit"] == "title":
        text = gettext("%(vendor)s shows at most %(max)s characters of the title; this one has %(asked)s: it is cut.")
    elif note["limit"] == "body":
        text = gettext("%(vendor)s shows at most %(max)s characters of the text; this one has %(asked)s: it is cut.")
    else:
        values["asked_hours"] = round(note["asked"] / 3600, 1)
        values["max_hours"] = note["max"] // 3600
        text = gettext(
            "%(vendor)s keeps a message at most %(max_hours)s hours: devices reached through %(vendor)s get it "
            "only within %(max_hours)s of the %(asked_hours)s hours asked."
        )
    return text % values
