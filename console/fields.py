"""One encrypted model field family, used for every secret in the project."""

from __future__ import annotations

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """A text secret, stored as a Fernet token (see console.crypto)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value).decode("utf-8")

    def get_prep_value(self, value):
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value).encode("utf-8"))

    def to_python(self, value):
        return value


class EncryptedBinaryField(models.TextField):
    """Binary secrets (.p12 files), stored as a Fernet token."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None if value is None else b""
        return crypto.decrypt(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, memoryview):
            value = value.tobytes()
        return crypto.encrypt(bytes(value))

    def to_python(self, value):
        return value


ENCRYPTED_FIELD_TYPES = (EncryptedTextField, EncryptedBinaryField)
