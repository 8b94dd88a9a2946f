"""Encryption at rest for every secret in Pushdeck (one place, one key ring)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _ring(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def key_ring() -> MultiFernet:
    return _ring(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(data: bytes) -> str:
    return key_ring().encrypt(data).decode("ascii")


def decrypt(token: str) -> bytes:
    try:
        return key_ring().decrypt(token.encode("ascii"))
    except InvalidToken as exc:
        # Never echo the token: it is ciphertext of a secret.
        raise ValueError("A stored secret could not be decrypted with the configured keys.") from exc


def rotate(token: str) -> str:
    """Re-encrypt a token under the first (newest) key."""
    return key_ring().rotate(token.encode("ascii")).decode("ascii")


def fingerprint(data: bytes | str) -> str:
    """A short, non-reversible identifier of a secret, safe for audit entries."""
    if isinstance(data, str):
        data = data.encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def mask(value: str, keep: int = 4) -> str:
    """What a page may show of a secret: its last characters only."""
    if not value:
        return ""
    return "•" * 8 + value[-keep:] if len(value) > keep * 3 else "•" * 8


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
