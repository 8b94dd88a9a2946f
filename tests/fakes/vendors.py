"""Fakes of FCM HTTP v1 (with its OAuth token endpoint) and of each vendor push API.

Each checks the credentials the way the real service does (JWT signature, client secret,
sha256 / md5 sign), records requests, reports `invalid_tokens` in the vendor's own format
and answers `fail_next(...)` scripted replies on its send endpoints.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from urllib.parse import urlsplit

import jwt

from .http import FakeHttpServer, HttpRequest, Reply

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def _path(request: HttpRequest) -> str:
    return urlsplit(request.path).path


class _Tokens:
    """Access tokens handed out by an OAuth endpoint."""

    def __init__(self) -> None:
        self.valid: set[str] = set()

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        self.valid.add(token)
        return token

    def bearer_ok(self, request: HttpRequest) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token in self.valid

    def expire_all(self) -> None:
        self.valid.clear()


class FakeFcm(FakeHttpServer):
    """FCM v1: POST /token (JWT bearer grant) and POST /v1/projects/<p>/messages:send."""

    send_paths = ("messages:send",)

    def __init__(self, *, project_id: str, client_email: str, public_pem: str) -> None:
        super().__init__()
        self.project_id = project_id
        self.client_email = client_email
        self.public_pem = public_pem
        self.tokens = _Tokens()
        self.token_url = ""

    def start(self):
        super().start()
        self.token_url = f"{self.url}/token"
        return self

    def handle(self, request: HttpRequest) -> Reply:
        path = _path(request)
        if path == "/token":
            form = request.form
            if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return Reply(400, {"error": "unsupported_grant_type"})
            try:
                claims = jwt.decode(
                    form.get("assertion", ""), self.public_pem, algorithms=["RS256"], audience=self.token_url
                )
            except jwt.PyJWTError as exc:
                return Reply(400, {"error": "invalid_grant", "error_description": str(exc)})
            if claims.get("iss") != self.client_email or claims.get("scope") != FCM_SCOPE:
                return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT claims"})
            if claims["exp"] - claims["iat"] > 3600:
                return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT: exp too far"})
            return Reply(200, {"access_token": self.tokens.issue(), "expires_in": 3599, "token_type": "Bearer"})
        if path != f"/v1/projects/{self.project_id}/messages:send":
            return Reply(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "not found"}})
        if not self.tokens.bearer_ok(request):
            return Reply(
                401,
                {
                    "error": {
                        "code": 401,
                        "status": "UNAUTHENTICATED",
                        "message": "Request had invalid authentication credentials.",
                    }
                },
            )
        token = request.json["message"].get("token", "")
        if token in self.invalid_tokens:
            return Reply(404, fcm_error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."))
        if token.startswith("malformed"):
            return Reply(
                400,
                fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token",
                ),
            )
        return Reply(200, {"name": f"projects/{self.project_id}/messages/{uuid.uuid4().hex}"})


def fcm_error(code: int, status: str, error_code: str, message: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}],
        }
    }


class FakeHuawei(FakeHttpServer):
    """Push Kit: POST /oauth2/v3/token and POST /v1/<appId>/messages:send. As the public doc pairs them:
    success and partial success with HTTP 200, business errors (80300007 all tokens invalid, ...) with
    HTTP 400 and auth failures with 401, the `code` always in the body."""

    send_paths = ("messages:send",)

    def __init__(self, *, app_id: str, app_secret: str) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.tokens = _Tokens()

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/v3/token"

    def handle(self, request: HttpRequest) -> Reply:
        path = _path(request)
        if path == "/oauth2/v3/token":
            form = request.form
            if form.get("grant_type") != "client_credentials":
                return Reply(400, {"error": 1102, "error_description": "unsupported grant type"})
            if form.get("client_id") != self.app_id or form.get("client_secret") != self.app_secret:
                return Reply(400, {"error": 1101, "sub_error": 12304, "error_description": "invalid client secret"})
            return Reply(200, {"access_token": self.tokens.issue(), "expires_in": 3600, "token_type": "Bearer"})
        if path != f"/v1/{self.app_id}/messages:send":
            return Reply(404, {"code": "80300001", "msg": "bad path"})
        request_id = uuid.uuid4().hex
        if not self.tokens.bearer_ok(request):
            return Reply(401, {"code": "80200003", "msg": "OAuth token expired.", "requestId": request_id})
        tokens = request.json["message"].get("token") or []
        if len(tokens) > 1000:
            return Reply(400, {"code": "80300010", "msg": "The number of tokens exceeds 1000", "requestId": request_id})
        illegal = [t for t in tokens if t in self.invalid_tokens]
        if illegal and len(illegal) == len(tokens):
            return Reply(400, {"code": "80300007", "msg": "All the tokens are invalid", "requestId": request_id})
        if illegal:
            msg = json.dumps(
                {"success": len(tokens) - len(illegal), "failure": len(illegal), "illegal_tokens": illegal}
            )
            return Reply(200, {"code": "80100000", "msg": msg, "requestId": request_id})
        return Reply(200, {"code": "80000000", "msg": "Success", "requestId": request_id})


class FakeXiaomi(FakeHttpServer):
    """MiPush: POST /v3/message/regid with `Authorization: key=<AppSecret>`, form fields; refused
    regIds of an accepted call in `data.bad_regids`, all refused -> 20301 "No valid targets!"."""

    send_paths = ("/v3/message/regid",)

    def __init__(self, *, app_secret: str, package_name: str) -> None:
        super().__init__()
        self.app_secret = app_secret
        self.package_name = package_name

    def handle(self, request: HttpRequest) -> Reply:
        if _path(request) != "/v3/message/regid":
            return Reply(404, {"result": "error", "code": 404, "reason": "not found"})
        if request.headers.get("authorization") != f"key={self.app_secret}":
            return Reply(200, {"result": "error", "code": 21301, "reason": "认证失败", "description": "auth failed"})
        form = request.form
        if form.get("restricted_package_name") != self.package_name:
            return Reply(200, {"result": "error", "code": 22022, "reason": "bad package", "description": "bad package"})
        ids = [i for i in form.get("registration_id", "").split(",") if i]
        if len(ids) > 1000:
            return Reply(200, {"result": "error", "code": 10017, "reason": "too many regIds", "description": ""})
        bad = [i for i in ids if i in self.invalid_tokens]
        if bad and len(bad) == len(ids):
            return Reply(
                200, {"result": "error", "code": 20301, "reason": "No valid targets!", "description": "发送消息失败"}
            )
        data = {"id": f"slm{uuid.uuid4().hex[:20]}"}
        if bad:
            # lower-case as most public clients read it
            data["bad_regids"] = ",".join(bad)
        return Reply(200, {"result": "ok", "code": 0, "data": data, "trace_id": uuid.uuid4().hex, "info": "ok"})


class FakeOppo(FakeHttpServer):
    """OPPO: /server/v1/auth (sha256 sign), unicast, save_message_content + broadcast."""

    send_paths = ("/unicast", "/broadcast", "/save_message_content")

    def __init__(self, *, app_key: str, master_secret: str) -> None:
        super().__init__()
        self.app_key = app_key
        self.master_secret = master_secret
        self.tokens: set[str] = set()
        self.messages: dict[str, dict] = {}

    def handle(self, request: HttpRequest) -> Reply:
        path = _path(request)
        form = request.form
        if path == "/server/v1/auth":
            expected = hashlib.sha256(f"{self.app_key}{form.get('timestamp')}{self.master_secret}".encode()).hexdigest()
            if form.get("app_key") != self.app_key or form.get("sign") != expected:
                return Reply(200, {"code": 14, "message": "Invalid Sign"})
            token = secrets.token_hex(16)
            self.tokens.add(token)
            return Reply(
                200,
                {
                    "code": 0,
                    "message": "Success",
                    "data": {"auth_token": token, "create_time": int(time.time() * 1000)},
                },
            )
        if form.get("auth_token") not in self.tokens:
            return Reply(200, {"code": 11, "message": "Invalid AuthToken"})
        if path == "/server/v1/message/notification/unicast":
            message = json.loads(form["message"])
            if message.get("target_value") in self.invalid_tokens:
                return Reply(200, {"code": 10000, "message": "Invalid RegistrationId"})
            return Reply(200, {"code": 0, "message": "Success", "data": {"messageId": uuid.uuid4().hex}})
        if path == "/server/v1/message/notification/save_message_content":
            message_id = uuid.uuid4().hex
            self.messages[message_id] = form
            return Reply(200, {"code": 0, "message": "Success", "data": {"message_id": message_id}})
        if path == "/server/v1/message/notification/broadcast":
            if form.get("message_id") not in self.messages:
                return Reply(200, {"code": 40, "message": "message_id not found"})
            ids = form.get("target_value", "").split(";")
            data: dict = {"message_id": form["message_id"], "task_id": uuid.uuid4().hex}
            bad = [i for i in ids if i in self.invalid_tokens]
            if bad:
                data["10000"] = [
                    {"registration_id": i, "error_code": 10000, "error_message": "Invalid RegistrationId"} for i in bad
                ]
            return Reply(200, {"code": 0, "message": "Success", "data": data})
        return Reply(404, {"code": 404, "message": "not found"})


class FakeVivo(FakeHttpServer):
    """vivo: /message/auth (md5 sign), /message/send, /message/saveListPayload + pushToList. The
    bodies must carry the logged-in `appId` (10094) and a `requestId`; title <= 40, content <= 100,
    timeToLive 60 s .. 1 day (10050-10056 validation errors otherwise)."""

    send_paths = ("/message/send", "/message/pushToList", "/message/saveListPayload")

    def __init__(self, *, app_id: str, app_key: str, app_secret: str) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_key = app_key
        self.app_secret = app_secret
        self.tokens: set[str] = set()
        self.tasks: dict[str, dict] = {}

    def handle(self, request: HttpRequest) -> Reply:
        path = _path(request)
        body = request.json or {}
        if path == "/message/auth":
            raw = f"{self.app_id}{self.app_key}{body.get('timestamp')}{self.app_secret}"
            if body.get("appId") != self.app_id or body.get("sign") != hashlib.md5(raw.encode()).hexdigest():
                return Reply(200, {"result": 10200, "desc": "sign error"})
            token = uuid.uuid4().hex
            self.tokens.add(token)
            return Reply(200, {"result": 0, "desc": "请求成功", "authToken": token})
        if request.headers.get("authtoken") not in self.tokens:
            return Reply(200, {"result": 10000, "desc": "authToken invalid"})
        if path in ("/message/send", "/message/saveListPayload", "/message/pushToList"):
            if str(body.get("appId", "")) != self.app_id:
                return Reply(200, {"result": 10094, "desc": "appId与鉴权appId不一致"})
            if not body.get("requestId"):
                return Reply(200, {"result": 10055, "desc": "requestId不能为空"})
        if path in ("/message/send", "/message/saveListPayload"):
            refused = self._check_content(body)
            if refused:
                return refused
        if path == "/message/send":
            if body.get("regId") in self.invalid_tokens:
                return Reply(
                    200, {"result": 10302, "desc": "regId不合法", "invalidUser": {"status": 1, "userid": body["regId"]}}
                )
            return Reply(200, {"result": 0, "desc": "请求成功", "taskId": uuid.uuid4().hex[:18]})
        if path == "/message/saveListPayload":
            task_id = uuid.uuid4().hex[:18]
            self.tasks[task_id] = body
            return Reply(200, {"result": 0, "desc": "请求成功", "taskId": task_id})
        if path == "/message/pushToList":
            if body.get("taskId") not in self.tasks:
                return Reply(200, {"result": 10051, "desc": "taskId不存在"})
            if len(body.get("regIds", [])) > 1000:
                return Reply(200, {"result": 10050, "desc": "regIds超过1000"})
            bad = [i for i in body.get("regIds", []) if i in self.invalid_tokens]
            reply = {"result": 0, "desc": "请求成功", "taskId": body["taskId"]}
            if bad:
                reply["invalidUsers"] = [{"status": 1, "userid": i} for i in bad]
            return Reply(200, reply)
        return Reply(404, {"result": 404, "desc": "not found"})

    @staticmethod
    def _check_content(body: dict) -> Reply | None:
        if len(str(body.get("title", ""))) > 40:
            return Reply(200, {"result": 10052, "desc": "title超过40个字符"})
        if len(str(body.get("content", ""))) > 100:
            return Reply(200, {"result": 10053, "desc": "content超过100个字符"})
        ttl = body.get("timeToLive", 86400)
        if not isinstance(ttl, int) or not 60 <= ttl <= 86400:
            return Reply(200, {"result": 10054, "desc": "timeToLive须在60秒到1天之间"})
        return None


class FakeHonor(FakeHttpServer):
    """Honor: /auth/token (client credentials) and /api/v1/<appId>/sendMessage. Success is `code` 200
    with `data.sendResult`, `data.requestId` and the refused tokens in `failTokens` / `expireTokens`."""

    send_paths = ("/sendMessage",)

    def __init__(self, *, app_id: str, client_id: str, client_secret: str) -> None:
        super().__init__()
        self.app_id = app_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.tokens = _Tokens()
        self.expired_tokens: set[str] = set()

    @property
    def token_url(self) -> str:
        return f"{self.url}/auth/token"

    def handle(self, request: HttpRequest) -> Reply:
        path = _path(request)
        if path == "/auth/token":
            form = request.form
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return Reply(401, {"error": "invalid_client", "error_description": "client authentication failed"})
            return Reply(200, {"access_token": self.tokens.issue(), "expires_in": 3600, "token_type": "Bearer"})
        if path != f"/api/v1/{self.app_id}/sendMessage":
            return Reply(404, {"code": 404, "message": "not found"})
        if not self.tokens.bearer_ok(request) or not request.headers.get("timestamp"):
            return Reply(200, {"code": 80200003, "message": "access token expired"})
        tokens = request.json.get("token") or []
        bad = [t for t in tokens if t in self.invalid_tokens]
        expired = [t for t in tokens if t in self.expired_tokens]
        data = {"sendResult": len(bad) + len(expired) < len(tokens), "requestId": uuid.uuid4().hex}
        if bad:
            data["failTokens"] = bad
        if expired:
            data["expireTokens"] = expired
        return Reply(200, {"code": 200, "message": "success", "data": data})


def meizu_sign(params: dict[str, str], secret: str) -> str:
    return hashlib.md5(("".join(f"{k}={params[k]}" for k in sorted(params)) + secret).encode()).hexdigest()


class FakeMeizu(FakeHttpServer):
    """Meizu: pushByPushId, form with an md5 `sign` over the sorted fields, at most 100 push ids.
    Refused ids come back inside a "200" answer's `value` map: 110002 unregistered (`unregistered`),
    110003 illegal (`invalid_tokens`), 110010 notifications switched off (`switched_off`)."""

    send_paths = ("/pushByPushId",)

    def __init__(self, *, app_id: str, app_secret: str) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.unregistered: set[str] = set()
        self.switched_off: set[str] = set()

    def handle(self, request: HttpRequest) -> Reply:
        if _path(request) != "/garcia/api/server/push/varnished/pushByPushId":
            return Reply(404, {"code": "404", "message": "not found"})
        form = request.form
        sign = form.pop("sign", "")
        if form.get("appId") != self.app_id:
            return Reply(200, {"code": "110000", "message": "appId不合法", "value": None})
        if sign != meizu_sign(form, self.app_secret):
            return Reply(200, {"code": "1006", "message": "签名校验失败", "value": None})
        ids = [i for i in form.get("pushIds", "").split(",") if i]
        if len(ids) > 100:
            return Reply(200, {"code": "1005", "message": "pushIds超过100个", "value": None})
        value = {}
        for code, refused in (
            ("110002", self.unregistered),
            ("110003", self.invalid_tokens),
            ("110010", self.switched_off),
        ):
            hit = [i for i in ids if i in refused]
            if hit:
                value[code] = hit
        return Reply(200, {"code": "200", "message": "", "value": value, "redirect": "", "msgId": uuid.uuid4().hex})
