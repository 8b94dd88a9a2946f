"""Per-app and per-channel concurrency limits shared by every worker on every machine, with any broker.

With a Redis broker: a counting semaphore in Redis, a sorted set of lease ids scored by their
expiry, so a worker killed while holding a slot frees it when the lease runs out. With any
other broker (RabbitMQ): PostgreSQL session advisory locks, one per slot, held on the worker's
database connection, so a killed worker frees its slots when its connection closes. The
embedded single-machine default (SQLite) has one worker process: nothing to share.

A chunk takes its app's slot before it builds any row, and a channel's slot before sending to
that channel. One that cannot get a slot is put back on the queue with an exponential backoff
instead of blocking a worker, so one app's broadcast or a broken credential that makes every
call slow never takes all the workers from other apps.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
import uuid
import zlib
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

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
    """Every slot of this limit is taken: try again later. `delivery_ids`: the deliveries of the
    chunk already built and not sent yet (the retry sends those instead of building them again)."""

    def __init__(self, key: str, delivery_ids: list[int] | None = None):
        super().__init__(key)
        self.key = key
        self.delivery_ids = delivery_ids


def slot_backoff(waits: int) -> float:
    """Seconds before a chunk that found no free slot `waits` times tries again: exponential, jittered."""
    base = settings.PUSHDECK_SLOT_RETRY_SECONDS
    return min(60.0, base * (2**waits)) * random.uniform(0.8, 1.2)


def app_key(app_id: int) -> str:
    return f"pushdeck:slots:app:{app_id}"


def channel_key(app_id: int, channel: str) -> str:
    return f"pushdeck:slots:chan:{app_id}:{channel}"


def _acquire_redis(client, key: str, limit: int, lease: float) -> str | None:
    token = uuid.uuid4().hex
    now = time.time()
    ok = client.eval(_ACQUIRE, 1, key, now, limit, now + lease, token, int(lease) + 60)
    return token if ok else None


def _lock_id(key: str) -> int:
    return zlib.crc32(key.encode()) - 2**31  # a signed int4


# Advisory locks are re-entrant within one session: the slots this thread's connection holds.
_held = threading.local()


def _held_here() -> set[tuple[int, int]]:
    if not hasattr(_held, "slots"):
        _held.slots = set()
    return _held.slots


def _acquire_pg(key: str, limit: int) -> int | None:
    """Try the limit's advisory locks (key, 0..limit-1) in a random order; the slot taken or None."""
    lock_id = _lock_id(key)
    order = [n for n in range(limit) if (lock_id, n) not in _held_here()]
    random.shuffle(order)
    with connection.cursor() as cursor:
        for n in order:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [lock_id, n])
            if cursor.fetchone()[0]:
                _held_here().add((lock_id, n))
                return n
    return None


def _release_pg(key: str, n: int) -> None:
    _held_here().discard((_lock_id(key), n))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_lock_id(key), n])
    except Exception:  # noqa: BLE001 - a closed connection has released its locks already
        logger.debug("advisory unlock failed", exc_info=True)


@contextmanager
def slot(key: str, limit: int):
    """Hold one slot of `key` (at most `limit` at once across the fleet), or raise SlotsBusy."""
    client = _redis()
    if client is not None:
        token = _acquire_redis(client, key, limit, float(settings.PUSHDECK_SLOT_LEASE_SECONDS))
        if token is None:
            raise SlotsBusy(key)
        try:
            yield
        finally:
            client.zrem(key, token)
        return
    if connection.vendor != "postgresql":
        yield  # the embedded single-machine default: one worker process, nothing to share
        return
    n = _acquire_pg(key, limit)
    if n is None:
        raise SlotsBusy(key)
    try:
        yield
    finally:
        _release_pg(key, n)


def app_slot(app_id: int):
    return slot(app_key(app_id), settings.PUSHDECK_APP_CONCURRENCY)


def channel_slot(app_id: int, channel: str):
    return slot(channel_key(app_id, channel), settings.PUSHDECK_CHANNEL_CONCURRENCY)


def receipt_slot(app_id: int):
    """Hold one of the app's receipt batch slots (PUSHDECK_CALLBACK_APP_TASKS), or raise SlotsBusy."""
    return slot(f"pushdeck:slots:receipts:{app_id}", settings.PUSHDECK_CALLBACK_APP_TASKS)


def receipt_batch_lock(app_id: int, delivery_ids: list[int], attempt: int):
    """Held by the one run that sends this batch (these deliveries, this attempt), or raise
    SlotsBusy: a second run of the same batch at the same moment (a task delivered twice)
    comes back later, when the first has logged what it sent, instead of POSTing it again."""
    digest = hashlib.blake2b(",".join(map(str, sorted(delivery_ids))).encode(), digest_size=10).hexdigest()
    return slot(f"pushdeck:receipt-batch:{app_id}:{attempt}:{digest}", 1)


@contextmanager
def slots(app_id: int, channel: str):
    """Hold one slot of the app's limit and one of the app's channel limit, or raise SlotsBusy."""
    with app_slot(app_id), channel_slot(app_id, channel):
        yield


def slots_in_use(app_id: int, channel: str | None = None) -> int:
    key = channel_key(app_id, channel) if channel else app_key(app_id)
    client = _redis()
    if client is not None:
        client.zremrangebyscore(key, "-inf", time.time())
        return int(client.zcard(key))
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s::oid",
            [_lock_id(key) % 2**32],
        )
        return int(cursor.fetchone()[0])
