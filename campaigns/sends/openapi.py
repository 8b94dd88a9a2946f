"""The OpenAPI 3.1 document of the signed send API, built from the code's own constants."""

from __future__ import annotations

from campaigns.codes import ApiCode
from console.apisign import HEADER_APP_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP

from . import rules

_SIGNATURE_DOC = (
    "Signed string: method, path, timestamp (Unix ms), nonce and the lowercase hex SHA-256 of the raw body, "
    "joined by \\n. RSA PKCS#1 v1.5 with SHA-256 under the app's uploaded public key; base64 with + replaced "
    "by - and / by _. A bad or missing signature, a timestamp more than 5 minutes off or a reused nonce "
    "gives -1; the Push API switch off gives 3032."
)


def _header(name: str, description: str) -> dict:
    return {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": description}


COMMON_FIELDS = {
    "appId": {"type": "string", "description": "When given, the calling app's AppKey (else 3007)."},
    "taskName": {"type": "string", "minLength": 1, "maxLength": 200, "description": "Required (3019)."},
    "expiredSeconds": {
        "type": "integer",
        "minimum": 1,
        "maximum": rules.EXPIRE_MAX_SECONDS,
        "default": rules.EXPIRE_DEFAULT_SECONDS,
    },
    "extendedParams": {
        "type": "object",
        "maxProperties": rules.EXTRAS_MAX,
        "description": "Reserved keys refused (3044): "
        + ", ".join(sorted(rules.RESERVED_EXTRA_KEYS))
        + ". badge_add_num needs badge_class (3059); big_text must be 1.",
    },
    "silent": {"type": "boolean", "description": "Pass-through message (always the self-built channel)."},
    "androidChannel": {
        "type": "integer",
        "enum": [0, 1],
        "description": "0: vendor channel when configured, else self-built; 1: self-built only.",
    },
    "pushTime": {"type": "string", "format": "date-time", "description": "Schedule up to 7 days ahead."},
    "idempotentToken": {
        "type": "string",
        "maxLength": 120,
        "description": "A retry with the same token returns the first call's result.",
    },
}
DELIVERY_TYPE = {"type": "integer", "enum": [1, 2, 3], "description": "1 Android device, 2 iOS device, 3 user id"}
TARGET_MSGKEY = {
    "type": "object",
    "maxProperties": rules.SINGLE_PUSH_MAX_TARGETS,
    "additionalProperties": {"type": "string", "maxLength": rules.CUSTOMER_MSG_ID_MAX},
    "description": "target id -> customer message id (msgKey), at most 10",
}

BODIES = {
    "simple": {
        "required": ["taskName", "deliveryType", "targetMsgkey", "title", "content"],
        "properties": {
            "deliveryType": DELIVERY_TYPE,
            "targetMsgkey": TARGET_MSGKEY,
            "title": {"type": "string", "maxLength": 200},
            "content": {"type": "string", "maxLength": 200, "description": "The notification text."},
            "body": {"type": "string", "maxLength": 200, "description": "Older name of content (not both)."},
            "pushAction": {
                "type": "integer",
                "enum": [0, 1],
                "default": 1,
                "description": "0 open web URL (needs uri), 1 open activity; anything else 3028",
            },
            "uri": {"type": "string"},
            **COMMON_FIELDS,
        },
    },
    "template": {
        "required": ["taskName", "deliveryType", "targetMsgkey", "templateName"],
        "properties": {
            "deliveryType": DELIVERY_TYPE,
            "targetMsgkey": TARGET_MSGKEY,
            "templateName": {"type": "string"},
            "templateKeyValue": {"type": "object", "additionalProperties": {"type": "string"}},
            **COMMON_FIELDS,
        },
    },
    "multiple": {
        "required": ["taskName", "deliveryType", "templateName", "targetMsg"],
        "properties": {
            "deliveryType": DELIVERY_TYPE,
            "templateName": {"type": "string"},
            "targetMsg": {
                "type": "array",
                "maxItems": rules.MULTIPLE_API_MAX_TARGETS,
                "items": {
                    "type": "object",
                    "required": ["target", "msgKey"],
                    "properties": {
                        "target": {"type": "string"},
                        "msgKey": {"type": "string", "maxLength": 64},
                        "templateKeyValue": {"type": "object"},
                        "extendedParams": {"type": "object", "maxProperties": rules.MULTIPLE_API_MAX_EXTRAS},
                    },
                },
            },
            **COMMON_FIELDS,
        },
    },
    "broadcast": {
        "required": ["taskName", "deliveryType", "templateName"],
        "properties": {
            "deliveryType": {"type": "integer", "enum": [1, 2], "description": "1 Android, 2 iOS (3 gives 3030)"},
            "templateName": {"type": "string"},
            "templateKeyValue": {"type": "object"},
            "pushStatus": {
                "type": "integer",
                "enum": [0, 1],
                "default": 0,
                "description": "0 bound (logged-in) users; 1 also unbound users, within unBindPeriod.",
            },
            "unBindPeriod": {
                "type": "integer",
                "enum": [1, 2, 3, 4],
                "description": "Only with pushStatus 1, and then required (3051): users unbound within 7 / 15 / "
                "60 days / ever; other values 3052. The Android self-built channel cannot reach unbound users (3053).",
            },
            "target": {"type": "string", "enum": ["all", "tag", "account", "alias"], "default": "all"},
            "targetValue": {
                "description": "List of ids (at most 1,000) or, for tag, an expression "
                '{"and": [...]}, {"or": [...]}, {"not": ...}'
            },
            "msgkey": {"type": "string", "maxLength": 64},
            **COMMON_FIELDS,
        },
    },
    "continuous": {
        "properties": {
            "messageId": {"type": "integer", "description": "Absent: create the message. Present: push it."},
            "title": {"type": "string"},
            "content": {"type": "string"},
            "body": {"type": "string", "description": "Older name of content (not both)."},
            "templateName": {"type": "string"},
            "templateKeyValue": {"type": "object"},
            "target": {"type": "string", "enum": ["device", "account", "alias"]},
            "targetValue": {"type": "array", "maxItems": rules.BATCH_MAX_TARGETS, "items": {"type": "string"}},
            **COMMON_FIELDS,
        }
    },
}

SUMMARIES = {
    "simple": "PushSimple: literal title and body to at most 10 targets",
    "template": "PushTemplate: a template and its values to at most 10 targets",
    "multiple": "PushMultiple: one template, up to 400 target messages with their own values",
    "broadcast": "PushBroadcast: every device of one platform, or a tag expression, accounts, aliases",
    "continuous": "Continuous push: create a message once, then push it to more batches",
}


TEMPLATE_FIELDS = {
    "templateName": {
        "type": "string",
        "maxLength": 200,
        "description": "Letters, digits, underscore; unique per app (3036-3038)",
    },
    "templateDesc": {"type": "string", "maxLength": 200, "description": "3041 when invalid"},
    "title": {"type": "string", "maxLength": 200, "description": "3040 when invalid"},
    "content": {"type": "string", "maxLength": 200, "description": "3039 when invalid"},
    "pushAction": {"type": "integer", "enum": [0, 1], "default": 1, "description": "0 web URL, 1 activity"},
    "uri": {"type": "string", "description": "3042 when invalid"},
    "activity": {"type": "string"},
    "displayType": {"type": "string", "enum": ["notification", "silent"]},
    "displayStyle": {"type": "string", "enum": ["default", "big_text", "rich"]},
    "iconUrl": {"type": "string"},
    "imageUrl": {"type": "string"},
}
TEMPLATE_BODIES = {
    "create": (
        "Create a template (3036-3042 name its broken rule)",
        {"required": ["templateName", "title", "content"], "properties": TEMPLATE_FIELDS},
    ),
    "list": (
        "Templates newest first, a page at a time",
        {
            "properties": {
                "page": {"type": "integer", "minimum": 1, "default": 1},
                "pageSize": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                "keyword": {"type": "string"},
            }
        },
    ),
    "get": (
        "One template by name (3022 when none)",
        {"required": ["templateName"], "properties": {"templateName": {"type": "string"}}},
    ),
    "delete": (
        "Delete a template; refused (3028) while an unfinished send uses it",
        {"required": ["templateName"], "properties": {"templateName": {"type": "string"}}},
    ),
}


def _server_op(operation_id: str, summary: str, body: dict, params: list, result: dict) -> dict:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": params,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", **body}}}},
            "responses": {
                "200": {"description": "resultCode 100", "content": {"application/json": {"schema": result}}},
                "400": {"description": "A SPEC failure code", "content": {"application/json": {"schema": result}}},
                "401": {"description": "-1 SIGNATURE_MISMATCH (also an unsigned call)"},
                "403": {"description": "3032 REST_API_SWITCH_NOT_OPEN, or a source address outside the allowlist"},
            },
        }
    }


def _refusals(result: dict) -> dict:
    """The answers every signed endpoint really gives besides its own: all JSON with a resultCode."""
    body = {"application/json": {"schema": result}}
    return {
        "404": {"description": "3007 APPID_WRONG: unknown app key (an unknown path answers 3028)", "content": body},
        "405": {"description": "3028: use POST", "content": body},
        "413": {"description": "3028: the body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE", "content": body},
        "429": {
            "description": "3028: more calls this minute than the app's limit",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
            "content": body,
        },
        "500": {"description": "9000 SYSTEM_ERROR", "content": body},
    }


def document() -> dict:
    result = {
        "type": "object",
        "required": ["resultCode", "resultMsg", "requestId"],
        "properties": {
            "resultCode": {"type": "integer", "description": "100 SUCCESS, else a SPEC code; 429 rate limited"},
            "resultMsg": {"type": "string"},
            "requestId": {"type": "string"},
            "detail": {"type": "string"},
            "pushResult": {
                "type": "object",
                "properties": {
                    "vendorNotes": {
                        "type": "array",
                        "description": "Present when a switched-on vendor channel allows less than asked (vivo keeps "
                        "a message one day at most, title 40 / text 100 characters; Xiaomi title 49 / text 127): "
                        "vendor, limit (title, body, validity), asked, max and a text. The message is sent within "
                        "the vendor's limit.",
                        "items": {"type": "object"},
                    }
                },
            },
        },
    }
    params = [
        _header(HEADER_APP_KEY, "The app's AppKey"),
        _header(HEADER_TIMESTAMP, "Unix time in milliseconds, within 5 minutes"),
        _header(HEADER_NONCE, "A value never used before by this app (up to 128 characters)"),
        _header(HEADER_SIGNATURE, _SIGNATURE_DOC),
    ]
    paths = {}
    for op, body in BODIES.items():
        paths[f"/api/v1/push/{op}"] = {
            "post": {
                "operationId": f"push_{op}",
                "summary": SUMMARIES[op],
                "parameters": params,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            # Any other field is refused by name (3028), never dropped.
                            "schema": {"type": "object", "additionalProperties": False, **body}
                        }
                    },
                },
                "responses": {
                    "200": {"description": "resultCode 100", "content": {"application/json": {"schema": result}}},
                    "400": {"description": "A SPEC failure code", "content": {"application/json": {"schema": result}}},
                    "401": {"description": "-1 SIGNATURE_MISMATCH"},
                    "403": {"description": "3032 REST_API_SWITCH_NOT_OPEN"},
                },
            }
        }
    from campaigns.delivery.openapi_client import client_paths

    for op, (summary, body) in TEMPLATE_BODIES.items():
        paths[f"/api/v1/templates/{op}"] = _server_op(f"template_{op}", summary, body, params, result)
    paths["/api/v1/ping"] = _server_op(
        "ping", "A correctly signed call answers the app key: test your signing", {"properties": {}}, params, result
    )
    paths.update(client_paths())
    for path, methods in paths.items():
        scheme = "clientSignature" if path.startswith("/api/v1/client/") else "serverSignature"
        for op in methods.values():
            op["security"] = [{scheme: []}]
            for code, answer in _refusals(result).items():
                known = op["responses"].setdefault(code, answer)
                for key, value in answer.items():
                    known.setdefault(key, value)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pushdeck server API",
            "version": "1",
            "description": _SIGNATURE_DOC,
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "serverSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": HEADER_SIGNATURE,
                    "description": _SIGNATURE_DOC,
                },
                "clientSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": HEADER_SIGNATURE,
                    "description": "HMAC-SHA256 of the same signed string under the AppSecret (first device/report) "
                    "or the device's deviceSecret, encoded as the server signature.",
                },
            },
            "schemas": {
                "ResultCode": {
                    "type": "integer",
                    "enum": [int(c) for c in ApiCode],
                    "description": ", ".join(f"{int(c)} {c.name}" for c in ApiCode),
                }
            },
        },
    }
