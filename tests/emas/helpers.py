"""Callers of the EMAS door: the Tea SDK (`alibabacloud_push20160801`, ACS3), the older
`aliyunsdkpush` on `aliyunsdkcore` (RPC 1.0), and a raw RPC client for attacks.

`Sdks.call(kind, action, params)` drives any 2016-08-01 action through either SDK with the
parameters named as the API names them, and answers the response body as a dict: for the
Tea SDK it is the SDK's own response model mapped back (`body.to_map()`), so a field the
model does not know, or of the wrong type, is lost or breaks the call there.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import alibabacloud_push20160801.client as tea_client_module
from alibabacloud_push20160801 import models as tea
from alibabacloud_push20160801.client import Client as TeaClient
from alibabacloud_tea_openapi.utils_models import Config
from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.request import CommonRequest
from darabonba.runtime import RuntimeOptions

from console.acs.models import AccessKey
from console.acs.rpcsign import sign, string_to_sign

VERSION = "2016-08-01"

# Action name -> the Tea client's method (push_notice_toi_os, push_v2, ...), read from the client.
_SOURCE = inspect.getsource(tea_client_module)
TEA_METHODS = {
    m.group(2): m.group(1) for m in re.finditer(r"    def (\w+with_options)\(\n.*?action = '(\w+)'", _SOURCE, re.S)
}


class SdkError(Exception):
    def __init__(self, code: str, message: str, status: int | None):
        super().__init__(f"{status} {code}: {message}")
        self.code, self.message, self.status = code, message, status


def no_retry() -> RuntimeOptions:
    return RuntimeOptions(autoretry=False, max_attempts=0, read_timeout=20000, connect_timeout=5000)


class Sdks:
    """Both official SDKs, pointed at the live server with one AccessKey: the one line a team changes."""

    def __init__(self, live_server, key: AccessKey, *, secret: str | None = None):
        self.endpoint = urlsplit(live_server.url).netloc
        secret = secret if secret is not None else key.secret
        self.tea = TeaClient(
            Config(access_key_id=key.access_key_id, access_key_secret=secret, endpoint=self.endpoint, protocol="HTTP")
        )
        self.old = AcsClient(key.access_key_id, secret, "cn-hangzhou", auto_retry=False)
        self.old.add_endpoint("cn-hangzhou", "Push", self.endpoint)  # the README's one line

    def call(self, kind: str, action: str, params: dict) -> dict:
        return self.call_tea(action, params) if kind == "tea" else self.call_old(action, params)

    def call_tea(self, action: str, params: dict) -> dict:
        method = getattr(self.tea, TEA_METHODS[action])
        try:
            if action == "ListSummaryApps":
                response = method(no_retry())
            else:
                request = getattr(tea, f"{action}Request")().from_map(params)
                response = method(request, no_retry())
        except Exception as error:  # the Tea SDK raises darabonba's ClientException / ResponseException
            inner = getattr(error, "inner_exception", None) or error
            code = getattr(inner, "code", None)
            if code is None:
                raise
            data = getattr(inner, "data", None) or {}
            status = getattr(inner, "status_code", None) or getattr(inner, "statusCode", None) or data.get("statusCode")
            raise SdkError(code, getattr(inner, "message", str(inner)), status) from error
        assert response.status_code == 200
        return response.body.to_map()

    def old_request(self, action: str, params: dict):
        """The SDK's own request class; actions it has no class for (PushV2) go as its CommonRequest."""
        try:
            module = importlib.import_module(f"aliyunsdkpush.request.v20160801.{action}Request")
        except ModuleNotFoundError:
            request = CommonRequest(domain=self.endpoint, version=VERSION, action_name=action)
            request.set_method("POST")
            for name, value in params.items():
                request.add_query_param(name, value if isinstance(value, str | int) else json.dumps(value))
        else:
            request = getattr(module, f"{action}Request")()
            for name, value in params.items():
                getattr(request, f"set_{name}")(value)
        request.set_protocol_type("http")
        return request

    def call_old(self, action: str, params: dict) -> dict:
        try:
            raw = self.old.do_action_with_exception(self.old_request(action, params))
        except ServerException as error:
            raise SdkError(error.get_error_code(), error.get_error_msg(), error.get_http_status()) from error
        except ClientException as error:
            raise SdkError(error.get_error_code(), error.get_error_msg(), None) from error
        return json.loads(raw)


def iso(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


class RawRpc:
    """Signs a call as the older SDK does (RPC 1.0, all in the query), then lets a test change anything."""

    def __init__(self, client, key: AccessKey, *, secret: str | None = None):
        self.client, self.key = client, key
        self.secret = secret if secret is not None else key.secret

    def signed(self, action: str, params: dict, *, timestamp: str | None = None, nonce: str | None = None) -> dict:
        query = {
            **{k: str(v) for k, v in params.items()},
            "Action": action,
            "Version": VERSION,
            "Format": "JSON",
            "RegionId": "cn-hangzhou",
            "AccessKeyId": self.key.access_key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureType": "",
            "SignatureNonce": nonce or uuid.uuid4().hex,
            "Timestamp": timestamp or iso(),
        }
        query["Signature"] = sign(self.secret, string_to_sign("POST", list(query.items())))
        return query

    def post(self, query: dict):
        return self.client.generic("POST", "/?" + urlencode(query), data=b"", HTTP_X_ACS_ACTION=query.get("Action", ""))


__all__ = ["Sdks", "SdkError", "RawRpc", "iso", "VERSION", "tea"]
