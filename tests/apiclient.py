"""Sign calls to the server API (RSA) and the client API (HMAC) as real callers do."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from console.apisign import hmac_signature, signed_string
from console.keys import generate_rsa_pair, rsa_sign
from console.models import ApiNonce
from console.security.counters import redis_client


class SignedClient:
    """Wraps a Django test client. kind="server" signs with `private_pem`, "client" as an SDK does:
    under the deviceSecret that device/report issued for the body's deviceId once it has one
    (naming the device in X-Pushdeck-Device-Id), else under the AppSecret."""

    def __init__(self, client, app, *, kind="server", private_pem=None):
        self.client = client
        self.app = app
        self.kind = kind
        self.private_pem = private_pem
        self.device_secrets: dict[str, str] = {}

    def knows(self, device_id: str) -> bool:
        """The device's secret: issued to this client, or held by a device made in the database."""
        if device_id not in self.device_secrets:
            from campaigns.models import Device

            device = Device.objects.filter(app__app_key=self.app.app_key, device_id=device_id).first()
            if device is None or not device.client_secret:
                return False
            self.device_secrets[device_id] = device.client_secret
        return True

    def headers(self, method, path, body: bytes, *, timestamp=None, nonce=None, signature=None, as_device=None):
        timestamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
        nonce = nonce or uuid.uuid4().hex
        data = signed_string(method=method, path=path, timestamp=timestamp, nonce=nonce, body=body)
        if signature is None:
            if self.kind == "server":
                signature = rsa_sign(self.private_pem, data)
            elif as_device:
                signature = hmac_signature(self.device_secrets[as_device], data)
            else:
                signature = hmac_signature(self.app.app_secret, data)
        headers = {
            "HTTP_X_PUSHDECK_APP_KEY": self.app.app_key,
            "HTTP_X_PUSHDECK_TIMESTAMP": timestamp,
            "HTTP_X_PUSHDECK_NONCE": nonce,
            "HTTP_X_PUSHDECK_SIGNATURE": signature,
        }
        if as_device:
            headers["HTTP_X_PUSHDECK_DEVICE_ID"] = as_device
        return headers

    def post(self, path, payload=None, *, raw: bytes | None = None, as_device=None, **header_overrides):
        """as_device: sign as this device (default: the body's deviceId when its secret is known);
        as_device="" signs under the AppSecret."""
        body = raw if raw is not None else json.dumps(payload or {}).encode()
        if self.kind == "client" and as_device is None and isinstance(payload, dict):
            named = payload.get("deviceId")
            as_device = named if isinstance(named, str) and self.knows(named) else None
        headers = self.headers("POST", path, body, as_device=as_device or None, **header_overrides)
        response = self.client.post(path, data=body, content_type="application/json", **headers)
        if self.kind == "client" and response.get("Content-Type", "").startswith("application/json"):
            answer = response.json()
            if answer.get("deviceSecret"):
                self.device_secrets[answer["deviceId"]] = answer["deviceSecret"]
        return response


def enable_server_api(app):
    """Switch the Push API on with a fresh customer key pair; returns the private PEM."""
    from console.models import KeyConfig

    private_pem, public_pem = generate_rsa_pair()
    KeyConfig.objects.update_or_create(app=app, defaults={"api_enabled": True, "customer_public_key": public_pem})
    return private_pem


def nonces_recorded(app) -> int:
    """The nonces kept for `app`, wherever they are kept: Redis keys with a Redis broker, else rows."""
    client = redis_client()
    keys = list(client.scan_iter(f"pushdeck:once:nonce:{app.pk}:*")) if client is not None else []
    return len(keys) + ApiNonce.objects.filter(app=app).count()


POLL_PATH = "/api/v1/client/poll"


def signed_poll(app_key: str, device_id: str, secret: str, wait: int) -> bytes:
    """A self-built-channel long-poll as a device sends it (signed under its deviceSecret), raw HTTP/1.1."""
    body = json.dumps({"deviceId": device_id, "wait": wait}).encode()
    timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
    data = signed_string(method="POST", path=POLL_PATH, timestamp=timestamp, nonce=nonce, body=body)
    head = (
        f"POST {POLL_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Pushdeck-App-Key: {app_key}\r\nX-Pushdeck-Timestamp: {timestamp}\r\n"
        f"X-Pushdeck-Nonce: {nonce}\r\nX-Pushdeck-Device-Id: {device_id}\r\n"
        f"X-Pushdeck-Signature: {hmac_signature(secret, data)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def hold_poll(port: int, request: bytes, answers: dict, key: str) -> None:
    """Send one poll and wait for its answer: answers[key] = (raw answer, when it came), or (None, 0.0)
    when no connection could be made."""
    for attempt in range(30):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.2 * (attempt + 1))
    else:
        answers[key] = (None, 0.0)
        return
    try:
        writer.write(request)
        await writer.drain()
        answers[key] = (await reader.read(), time.monotonic())
    finally:
        writer.close()
