"""Wake waiting long-polls: a message for a device is published on Redis when it starts waiting.

Each process has one subscriber thread (`PSUBSCRIBE pushdeck:wake:*`, one Redis connection
whatever the number of waiting polls) that sets the events of the polls waiting for that
device, on their own event loop for async polls. A poll waits on its event: no polling loop,
no query and no write while it is idle. Without Redis (the embedded default) a waiter simply
wakes every PUSHDECK_POLL_INTERVAL to look again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

CHANNEL = "pushdeck:wake:{pk}"


def _redis_url() -> str | None:
    url = settings.CELERY_BROKER_URL
    return url if url.startswith(("redis://", "rediss://")) else None


_publisher = None


def publish_after_commit(device_pks: Iterable[int]) -> None:
    """When the current transaction commits, wake the polls of these devices."""
    pks = sorted(set(device_pks))
    if not pks or _redis_url() is None:
        return

    def send():
        global _publisher
        try:
            if _publisher is None:
                import redis

                _publisher = redis.Redis.from_url(_redis_url(), socket_timeout=5, socket_connect_timeout=5)
            pipe = _publisher.pipeline(transaction=False)
            for pk in pks:
                pipe.publish(CHANNEL.format(pk=pk), b"1")
            pipe.execute()
        except Exception:  # noqa: BLE001 - the device still gets its message at its next poll
            logger.warning("could not wake %d waiting devices", len(pks), exc_info=True)

    transaction.on_commit(send)


class Waiter:
    """One waiting poll: a threading.Event, or an asyncio.Event set on its own loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.loop = loop
        self.event: asyncio.Event | threading.Event = asyncio.Event() if loop else threading.Event()

    def wake(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.event.set)
        else:
            self.event.set()


class Hub:
    def __init__(self):
        self.lock = threading.Lock()
        self.waiters: dict[int, set[Waiter]] = defaultdict(set)
        self.thread: threading.Thread | None = None
        self.subscribed = threading.Event()

    def _ensure(self) -> bool:
        url = _redis_url()
        if url is None:
            return False
        if self.thread is None or not self.thread.is_alive():
            with self.lock:
                if self.thread is None or not self.thread.is_alive():
                    self.subscribed.clear()
                    self.thread = threading.Thread(target=self._run, args=(url,), name="wakeup-hub", daemon=True)
                    self.thread.start()
        return self.subscribed.wait(5)

    def _run(self, url: str) -> None:
        import redis

        while True:
            try:
                client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(CHANNEL.format(pk="*"))
                pubsub.get_message(timeout=5)  # the subscription is confirmed
                self.subscribed.set()
                for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._wake(int(message["channel"].rsplit(b":", 1)[1]))
            except Exception:  # noqa: BLE001 - reconnect; waiting polls look again meanwhile
                logger.warning("wake-up subscription lost; reconnecting", exc_info=True)
                self.subscribed.clear()
                self._wake_all()
                time.sleep(1)

    def _wake(self, pk: int) -> None:
        with self.lock:
            waiters = list(self.waiters.get(pk, ()))
        for waiter in waiters:
            waiter.wake()

    def _wake_all(self) -> None:
        with self.lock:
            waiters = [w for ws in self.waiters.values() for w in ws]
        for waiter in waiters:
            waiter.wake()

    def register(self, pk: int, waiter: Waiter) -> bool:
        """Listen for this device; False when there is no Redis to listen on (look again later)."""
        live = self._ensure()
        with self.lock:
            self.waiters[pk].add(waiter)
        return live

    def unregister(self, pk: int, waiter: Waiter) -> None:
        with self.lock:
            group = self.waiters.get(pk)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self.waiters[pk]

    def waiting(self) -> int:
        with self.lock:
            return sum(len(ws) for ws in self.waiters.values())


hub = Hub()
