"""Run N virtual devices against a running console through the client API.

Each device reports itself, binds a user id, holds the self-built long-poll, acks
what it receives and opens (clicks) some of it, so the demo shows real traffic.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid

import httpx
from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Device
from console.apisign import hmac_signature, signed_string
from console.models import App


class VirtualDevice:
    def __init__(
        self, *, base_url: str, app_key: str, secret: str, device_id: str, platform: str, device_secret: str = ""
    ):
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self.secret = secret
        # Issued by the first device/report; every later call is signed with it, as an SDK does.
        self.device_secret = device_secret
        self.device_id = device_id
        self.platform = platform
        self.client = httpx.Client(timeout=60)
        self.received = 0
        self.opened = 0
        self.errors = 0

    def call(self, op: str, payload: dict) -> dict:
        path = f"/api/v1/client/{op}"
        body = json.dumps({"deviceId": self.device_id, **payload}).encode()
        timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
        data = signed_string(method="POST", path=path, timestamp=timestamp, nonce=nonce, body=body)
        headers = {
            "Content-Type": "application/json",
            "X-Pushdeck-App-Key": self.app_key,
            "X-Pushdeck-Timestamp": timestamp,
            "X-Pushdeck-Nonce": nonce,
            "X-Pushdeck-Signature": hmac_signature(self.device_secret or self.secret, data),
        }
        if self.device_secret:
            headers["X-Pushdeck-Device-Id"] = self.device_id
        answer = self.client.post(self.base_url + path, content=body, headers=headers).json()
        self.device_secret = self.device_secret or answer.get("deviceSecret", "")
        if answer.get("resultCode") != 100:
            self.errors += 1
        return answer

    def register(self, user_id: str) -> None:
        report = {"platform": self.platform, "manufacturer": "Pushdeck", "appVersion": "1.0.0"}
        if self.platform == "ios":
            report["apnsToken"] = uuid.uuid5(uuid.NAMESPACE_DNS, self.device_id).hex * 2
        self.call("device/report", report)
        self.call("user/bind", {"userId": user_id})

    def run(self, *, until: float, open_rate: float, rng: random.Random) -> None:
        while True:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            try:
                answer = self.call("poll", {"wait": min(20.0, max(0.0, remaining - 0.5))})
            except httpx.HTTPError:
                self.errors += 1
                time.sleep(1)
                continue
            messages = answer.get("messages") or []
            if not messages:
                continue
            self.received += len(messages)
            self.call("ack", {"pushIds": [m["pushId"] for m in messages]})
            for m in messages:
                event = "click" if rng.random() < open_rate else rng.choice(["clean", "ignore"])
                self.opened += event == "click"
                self.call("receipt", {"pushId": m["pushId"], "event": event})


class Command(BaseCommand):
    help = "Run N virtual devices (self-built channel) against a running console."

    def add_arguments(self, parser):
        parser.add_argument("--app", required=True, help="AppKey of the app")
        parser.add_argument("--count", type=int, default=10)
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the console")
        parser.add_argument("--duration", type=float, default=300.0, help="seconds to run")
        parser.add_argument("--open-rate", type=float, default=0.3, help="share of messages opened")
        parser.add_argument("--platform", choices=["android", "ios"], default="android")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, **opts):
        count = opts["count"]
        if not 1 <= count <= 10_000:
            raise CommandError("--count is 1 to 10000")
        if not 0 <= opts["open_rate"] <= 1:
            raise CommandError("--open-rate is between 0 and 1")
        app = App.objects.filter(app_key=opts["app"]).first()
        if app is None:
            raise CommandError(f"no app with AppKey {opts['app']}")
        rng = random.Random(opts["seed"])
        # Devices of an earlier run keep the secrets they were issued then.
        known = dict(
            Device.objects.filter(app=app, device_id__startswith=f"sim-{app.app_key[:8]}-").values_list(
                "device_id", "client_secret"
            )
        )
        devices = [
            VirtualDevice(
                base_url=opts["url"],
                app_key=app.app_key,
                secret=app.app_secret,
                device_id=f"sim-{app.app_key[:8]}-{i:05d}",
                platform=opts["platform"],
                device_secret=known.get(f"sim-{app.app_key[:8]}-{i:05d}", ""),
            )
            for i in range(count)
        ]
        for i, device in enumerate(devices):
            device.register(f"sim-user-{i:05d}")
        self.stdout.write(f"{count} devices registered; running for {opts['duration']:.0f}s")
        until = time.monotonic() + opts["duration"]
        threads = [
            threading.Thread(
                target=d.run,
                kwargs={"until": until, "open_rate": opts["open_rate"], "rng": random.Random(rng.random())},
            )
            for d in devices
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        received = sum(d.received for d in devices)
        opened = sum(d.opened for d in devices)
        errors = sum(d.errors for d in devices)
        self.stdout.write(f"received {received}, opened {opened}, API errors {errors}")
