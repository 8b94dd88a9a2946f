"""The client API's part of the OpenAPI document: what an SDK needs to sign and register."""

from __future__ import annotations

from console.apisign import HEADER_APP_KEY, HEADER_DEVICE_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP

CLIENT_SIGNATURE_DOC = (
    "Client API (the app on the phone). Signed string as for the server API (method, path, timestamp, nonce, "
    "hex SHA-256 of the body, joined by \\n); HMAC-SHA256, base64 with + -> - and / -> _. Key: the AppSecret "
    "only for device/report of a device not registered yet, which answers `deviceSecret` once: keep it in the "
    f"app's private storage. Every later call of that device sends {HEADER_DEVICE_ID} and is signed under its "
    "deviceSecret; a body deviceId, when given, must be that device. The AppSecret cannot act on a registered "
    "device, and rotating it leaves device secrets valid. A fresh install (no stored deviceSecret) registers a "
    "new deviceId. Calls per minute are limited per app and per device: HTTP 429, resultCode 3028, Retry-After."
)

OPERATIONS = {
    "device/report": "Register the device (AppSecret, answers deviceSecret) or update its tokens (deviceSecret)",
    "user/bind": "Bind a user id on login",
    "user/unbind": "Unbind on logout",
    "account/bind": "Set the device's account",
    "account/unbind": "Clear the device's account",
    "alias/add": "Add aliases (at most 128 per device, 128 devices per alias)",
    "alias/remove": "Remove aliases",
    "tag/add": "Add tags (at most 10,000 per app)",
    "tag/remove": "Remove tags",
    "phone/bind": "Bind a phone number (SMS fallback)",
    "receipt": "Report arrive / click / clean / ignore of a push",
    "poll": "Self-built channel: wait up to `wait` seconds for messages",
    "ack": "Self-built channel: confirm pushIds",
}


def _header(name: str, description: str, *, required: bool = True) -> dict:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": {"type": "string"},
        "description": description,
    }


def client_paths() -> dict:
    params = [
        _header(HEADER_APP_KEY, "The app's AppKey"),
        _header(HEADER_TIMESTAMP, "Unix time in milliseconds, within 5 minutes"),
        _header(HEADER_NONCE, "A value never used before by this app (up to 128 characters)"),
        _header(HEADER_SIGNATURE, CLIENT_SIGNATURE_DOC),
        _header(
            HEADER_DEVICE_ID,
            "The device whose deviceSecret signs this call; absent only on a first device/report",
            required=False,
        ),
    ]
    paths = {}
    for op, summary in OPERATIONS.items():
        ok = {"description": "resultCode 100"}
        if op == "device/report":
            ok["content"] = {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "deviceId": {"type": "string"},
                            "deviceSecret": {
                                "type": "string",
                                "description": "Only on first registration: the key of every later call",
                            },
                        },
                    }
                }
            }
        paths[f"/api/v1/client/{op}"] = {
            "post": {
                "operationId": "client_" + op.replace("/", "_"),
                "summary": summary,
                "tags": ["client"],
                "parameters": params,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": ok,
                    "400": {"description": "3028 INVALID_PARAM with a detail naming the field"},
                    "401": {"description": "-1: bad signature, reused nonce, or a credential for another device"},
                    "429": {"description": "Per-app or per-device limit per minute; see Retry-After"},
                },
            }
        }
    return paths
