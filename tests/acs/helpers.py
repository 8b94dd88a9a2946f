"""Callers of the Alibaba Cloud door: the official mPaaS SDK, and a raw ACS3 client for attacks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from alibabacloud_mpaas20201028 import models as mpaas
from alibabacloud_mpaas20201028.client import Client as MpaasClient
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions
from django.conf import settings

from console.acs.models import AccessKey
from console.acs.signing import acs3_headers

VERSION = "2020-10-28"


def sdk(live_server, key: AccessKey, *, secret: str | None = None) -> MpaasClient:
    """The official SDK pointed at the live server: the one line a team changes."""
    config = Config(
        access_key_id=key.access_key_id,
        access_key_secret=secret if secret is not None else key.secret,
        endpoint=urlsplit(live_server.url).netloc,
        protocol="HTTP",
    )
    return MpaasClient(config)


def no_retry() -> RuntimeOptions:
    return RuntimeOptions(autoretry=False, max_attempts=0, read_timeout=20000, connect_timeout=5000)


def ids(app) -> dict:
    return {"app_id": app.app_key, "workspace_id": settings.PUSHDECK_WORKSPACE_ID}


def iso_now(**delta) -> str:
    from datetime import timedelta

    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


class RawClient:
    """Signs a form body as the SDK does, then lets a test change anything before it is sent."""

    def __init__(self, client, key: AccessKey, *, secret: str | None = None):
        self.client, self.key = client, key
        self.secret = secret if secret is not None else key.secret

    def headers(self, action: str, body: bytes, *, date: str | None = None, nonce: str | None = None, version=VERSION):
        return acs3_headers(
            access_key_id=self.key.access_key_id,
            secret=self.secret,
            action=action,
            version=version,
            host="testserver",
            body=body,
            date=date or iso_now(),
            nonce=nonce or uuid.uuid4().hex,
        )

    def post(self, action: str, params: dict, *, send_body: bytes | None = None, path: str = "/", **sign):
        body = urlencode(params).encode()
        headers = self.headers(action, body, **sign)
        extra = {
            f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k not in ("content-type", "host")
        }
        return self.client.generic(
            "POST",
            path,
            data=send_body if send_body is not None else body,
            content_type=headers.get("content-type", ""),
            HTTP_HOST="testserver",
            **extra,
        )


__all__ = ["mpaas", "sdk", "ids", "RawClient", "no_retry"]
