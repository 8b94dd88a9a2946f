"""The SPEC's codes: server API result codes, push statuses and gateway codes."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiCode(models.IntegerChoices):
    """Server API result codes. resultMsg stays English: it is the enum name."""

    SUCCESS = 100
    SIGNATURE_MISMATCH = -1
    NEED_FILE = 3002
    NEED_APPID_WORKSPACEID = 3003
    APPID_WRONG = 3007
    OS_TYPE_NOT_SUPPORTED = 3008
    DELIVERY_TYPE_NOT_SUPPORTED = 3009
    NEED_USERID = 3012
    TASKNAME_NULL = 3019
    EXPIREDSECONDS_WRONG = 3020
    TOKEN_OR_USERID_NULL = 3021
    TEMPLATE_NOT_EXIST = 3022
    TEMPLATEKV_NOT_ENOUGH = 3023
    PAYLOAD_NOT_ENOUGH = 3024
    NEED_TEMPLATE = 3025
    EXPIREDTIME_TOO_LONG = 3026
    INVALID_PARAM = 3028
    SINGLE_PUSH_TARGET_TOO_MUCH = 3029
    BROADCAST_ONLY_SUPPORT_BY_DEVICE = 3030
    REQUEST_SHOULD_BE_UTF8 = 3031
    REST_API_SWITCH_NOT_OPEN = 3032
    UNKNOWN_REST_SIGN_TYPE = 3033
    EXTEND_PARAM_TO_MUCH = 3035
    TEMPLATE_ALREADY_EXIST = 3036
    TEMPLATE_NAME_NULL = 3037
    TEMPLATE_NAME_INVALID = 3038
    TEMPLATE_CONTENT_INVALID = 3039
    TEMPLATE_TITLE_INVALID = 3040
    TEMPLATE_DESC_INFO_INVALID = 3041
    TEMPLATE_URI_INVALID = 3042
    SINGLE_PUSH_CONTENT_TOO_LONG = 3043
    INVALID_EXTEND_PARAM = 3044
    MULTIPLE_INNER_EXTEND_PARAM_TO_MUCH = 3049
    MSG_PAYLOAD_TOO_LONG = 3050
    BROADCAST_ALL_USER_NEED_UNBIND_PERIOD = 3051
    BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID = 3052
    BROADCAST_ALL_USER_NOT_SUPPORT_SELFCHANNEL_ANDROID = 3053
    DELIVERYTOKEN_INVALID = 3054
    MULTIPLE_TARGET_NUMBER_TOO_MUCH = 3055
    TEMPLATE_NUM_TOO_MUCH = 3056
    ANDROID_CHANNEL_PARAM_INVALID = 3057
    BADGE_ADD_NUM_INVALID = 3058
    BADGE_ADD_NUM_NEED_BADGE_CLASS = 3059
    SYSTEM_ERROR = 9000


class PushError(Exception):
    """A rule of the SPEC was broken. Services raise it; views and the API render it."""

    def __init__(self, code: ApiCode, message: str = "", *, field: str | None = None, details=None):
        self.code = ApiCode(code)
        self.message = message or self.code.name
        self.field = field
        self.details = details
        super().__init__(f"{self.code.value} {self.code.name}: {self.message}")


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
