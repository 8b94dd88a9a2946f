"""Short-lived shared counters and once-only markers for the signed APIs.

In Redis when the broker is Redis (every web process and machine shares them, keys expire by
themselves: no row per call, nothing to purge); otherwise, on the embedded single-machine
set-up, nonces fall back to ApiNonce rows and counters to the Django cache.
"""

from __future__ import annotations

import time

from django.conf import settings

_client = None


def redis_client():
    """The broker's Redis (one connection pool per process), or None with another broker."""
    global _client
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    if _client is None:
        import redis

        _client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return _client


def first_use(key: str, ttl_seconds: int) -> bool | None:
    """SET NX EX: True the first time `key` is seen within ttl, False after; None without Redis."""
    client = redis_client()
    if client is None:
        return None
    return bool(client.set(f"pushdeck:once:{key}", b"1", nx=True, ex=ttl_seconds))


def window_hit(key: str, window_seconds: int = 60) -> tuple[int, int]:
    """Count one call in the current fixed window: (count so far, seconds until the window ends)."""
    now = time.time()
    window = int(now // window_seconds)
    retry_after = max(1, int((window + 1) * window_seconds - now))
    full = f"pushdeck:rate:{key}:{window}"
    client = redis_client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        pipe.incr(full)
        pipe.expire(full, window_seconds + 5)
        count, _ = pipe.execute()
        return int(count), retry_after
    from django.core.cache import cache

    cache.add(full, 0, window_seconds + 5)
    try:
        return int(cache.incr(full)), retry_after
    except ValueError:
        cache.set(full, 1, window_seconds + 5)
        return 1, retry_after
