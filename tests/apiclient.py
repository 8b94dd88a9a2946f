"""Sign calls to the server API (RSA) and the client API (HMAC) as real callers do."""

from __future__ import annotations

import json
import time
import uuid

from console.apisign import hmac_signature, signed_string
from console.keys import generate_rsa_pair, rsa_sign


class SignedClient:
    """Wraps a Django test client. kind="server" signs with `private_pem`, "client" with the AppSecret."""

    def __init__(self, client, app, *, kind="server", private_pem=None):
        self.client = client
        self.app = app
        self.kind = kind
        self.private_pem = private_pem

    def headers(self, method, path, body: bytes, *, timestamp=None, nonce=None, signature=None):
        timestamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
        nonce = nonce or uuid.uuid4().hex
        data = signed_string(method=method, path=path, timestamp=timestamp, nonce=nonce, body=body)
        if signature is None:
            if self.kind == "server":
                signature = rsa_sign(self.private_pem, data)
            else:
                signature = hmac_signature(self.app.app_secret, data)
        return {
            "HTTP_X_PUSHDECK_APP_KEY": self.app.app_key,
            "HTTP_X_PUSHDECK_TIMESTAMP": timestamp,
            "HTTP_X_PUSHDECK_NONCE": nonce,
            "HTTP_X_PUSHDECK_SIGNATURE": signature,
        }

    def post(self, path, payload=None, *, raw: bytes | None = None, **header_overrides):
        body = raw if raw is not None else json.dumps(payload or {}).encode()
        headers = self.headers("POST", path, body, **header_overrides)
        return self.client.post(path, data=body, content_type="application/json", **headers)


def enable_server_api(app):
    """Switch the Push API on with a fresh customer key pair; returns the private PEM."""
    from console.models import KeyConfig

    private_pem, public_pem = generate_rsa_pair()
    KeyConfig.objects.update_or_create(app=app, defaults={"api_enabled": True, "customer_public_key": public_pem})
    return private_pem
