"""The API result codes of the SPEC, shared by every door into Pushdeck.

The native signed API (/api/v1/...), the Alibaba Cloud compatible door (console.acs) and
the services behind them raise PushError with one of these codes; each door renders it in
its own shape. They live in console so that every app can import them.
"""

from __future__ import annotations

from django.db import models


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
