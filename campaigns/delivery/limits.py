"""Per-app and per-channel concurrency limits shared by every worker on every machine.

A counting semaphore in Redis: a sorted set of lease ids scored by their expiry, so a
worker killed while holding a slot frees it when the lease runs out. A chunk that
cannot get a slot is put back on the queue with a short countdown instead of
blocking a worker, so one app's broadcast or a broken credential that makes every
call slow never takes all the workers from other apps.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager

from django.conf import settings

logger = logging.getLogger(__name__)

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""

_client = None


def _redis():
    global _client
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    if _client is None:
        import redis

        _client = redis.Redis.from_url(url)
    return _client


class SlotsBusy(Exception):
    """Every slot of this limit is taken: try again shortly."""


def _acquire(client, key: str, limit: int, lease: float) -> str | None:
    token = uuid.uuid4().hex
    now = time.time()
    ok = client.eval(_ACQUIRE, 1, key, now, limit, now + lease, token, int(lease) + 60)
    return token if ok else None


@contextmanager
def slots(app_id: int, channel: str):
    """Hold one slot of the app's limit and one of the app's channel limit, or raise SlotsBusy."""
    client = _redis()
    if client is None:
        # Embedded single-machine broker: one worker process, nothing to share.
        yield
        return
    lease = float(settings.PUSHDECK_SLOT_LEASE_SECONDS)
    held: list[tuple[str, str]] = []
    try:
        for key, limit in (
            (f"pushdeck:slots:app:{app_id}", settings.PUSHDECK_APP_CONCURRENCY),
            (f"pushdeck:slots:chan:{app_id}:{channel}", settings.PUSHDECK_CHANNEL_CONCURRENCY),
        ):
            token = _acquire(client, key, limit, lease)
            if token is None:
                raise SlotsBusy(key)
            held.append((key, token))
        yield
    finally:
        for key, token in held:
            client.zrem(key, token)


@contextmanager
def receipt_slot(app_id: int):
    """Hold one of the app's receipt batch slots (PUSHDECK_CALLBACK_APP_TASKS), or raise SlotsBusy."""
    client = _redis()
    if client is None:
        yield
        return
    key = f"pushdeck:slots:receipts:{app_id}"
    token = _acquire(client, key, settings.PUSHDECK_CALLBACK_APP_TASKS, float(settings.PUSHDECK_SLOT_LEASE_SECONDS))
    if token is None:
        raise SlotsBusy(key)
    try:
        yield
    finally:
        client.zrem(key, token)


def slots_in_use(app_id: int, channel: str | None = None) -> int:
    client = _redis()
    if client is None:
        return 0
    key = f"pushdeck:slots:chan:{app_id}:{channel}" if channel else f"pushdeck:slots:app:{app_id}"
    client.zremrangebyscore(key, "-inf", time.time())
    return int(client.zcard(key))
