"""The SPEC's codes: push statuses and gateway codes (API result codes: console.apicodes)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from console.apicodes import ApiCode, PushError

__all__ = ["ApiCode", "PushError", "PushStatus", "status_text"]


class PushStatus(models.IntegerChoices):
    """Common message status codes (SPEC "Message status")."""

    WAITING_FOR_VERIFY = -1, _("Waiting for verification")
    DEVICE_NOT_ONLINE = 0, _("Waiting for the device to come online or to acknowledge")
    NO_BIND_INFO = 1, _("No device is bound to this user")
    ACKED = 2, _("Acknowledged (device acked or gateway accepted)")
    # The engine's own final codes, for the ends the SPEC has no number for.
    TOKEN_DEAD = 3, _("Not sent: a gateway reported the device token as dead")
    CANCELLED = 4, _("Cancelled: the send was stopped before this message was sent")
    RETRIES_EXHAUSTED = 5, _("The gateway failed every retry")
    GATEWAY_REFUSED = 6, _("The gateway refused the message")
    NONE = 99999999, _("Unknown")


# Gateway codes are kept as the gateway reports them; these are the SPEC's numbers for
# the reasons the gateways answer with, and their descriptions.
APNS_REASON_CODES: dict[str, int] = {
    "PayloadEmpty": 2001,
    "PayloadTooLarge": 2002,
    "BadTopic": 2003,
    "TopicDisallowed": 2004,
    "BadMessageId": 2005,
    "BadExpirationDate": 2006,
    "BadPriority": 2007,
    "MissingDeviceToken": 2008,
    "BadDeviceToken": 2009,
    "DeviceTokenNotForTopic": 2010,
    "Unregistered": 2011,
    "BadCertificateEnvironment": 2013,
    "BadCertificate": 2014,
    "MissingTopic": 2023,
    "ConnClosed": 2024,
    "ConnUnavailable": 2025,
}

FCM_ERROR_CODES: dict[str, int] = {
    "InvalidRegistration": 90000002,
    "NotRegistered": 90000003,
    "InvalidPackageName": 90000004,
    "MessageTooBig": 90000007,
    "InvalidTtl": 90000009,
    "InternalServerError": 90000011,
    "Authentication": 90000401,
}

GATEWAY_CODE_TEXT: dict[int, str] = {
    **{code: name for name, code in APNS_REASON_CODES.items()},
    **{code: name for name, code in FCM_ERROR_CODES.items()},
    80000003: "terminal not online",
    80000004: "app uninstalled",
    80100002: "illegal token list",
    80300007: "all tokens illegal",
    10000: "invalid registration id",
    10302: "invalid regId",
    20301: "invalid target",
}


def status_text(code: int | None) -> str:
    """Human text for a status or gateway code."""
    if code is None:
        return ""
    try:
        return str(PushStatus(code).label)
    except ValueError:
        return GATEWAY_CODE_TEXT.get(code, str(code))
