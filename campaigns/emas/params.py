"""Reading the parameters of an EMAS (2016-08-01) call, strictly.

Every parameter a handler does not read is refused by name (`Params.finish`): a field
Pushdeck cannot honour never disappears silently. Errors carry Alibaba's codes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime


class EmasError(Exception):
    """A refusal the SDKs turn into their exception: HTTP `status`, JSON Code and Message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def missing(name: str) -> EmasError:
    return EmasError("MissingParameter", f"The input parameter {name} that is mandatory is missing.")


def invalid(name: str, why: str) -> EmasError:
    return EmasError("InvalidParameter", f"The parameter {name} is invalid: {why}")


def unsupported(names: list[str], why: str = "") -> EmasError:
    return EmasError(
        "InvalidParameter.NotSupported",
        "Pushdeck cannot honour " + ", ".join(sorted(names)) + (f": {why}" if why else "") + ".",
    )


TRUE = {"true", "True", "TRUE", "1"}
FALSE = {"false", "False", "FALSE", "0"}


class Params:
    """The action's parameters (strings, as the query carries them), each read at most once."""

    def __init__(self, data: dict, prefix: str = ""):
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def has(self, key: str) -> bool:
        value = self.data.get(key)
        return value is not None and value != ""

    def raw(self, key: str):
        self.used.add(key)
        return self.data.get(key)

    def str(self, key: str, *, required: bool = False, max_len: int = 0, default: str = "") -> str:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing(self._name(key))
            return default
        if isinstance(value, dict | list):
            raise invalid(self._name(key), "a text is expected")
        value = str(value)
        if max_len and len(value) > max_len:
            raise invalid(self._name(key), f"at most {max_len} characters")
        return value

    def int(self, key: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing(self._name(key))
            return default
        if isinstance(value, bool):
            raise invalid(self._name(key), "a whole number is expected")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise invalid(self._name(key), "a whole number is expected") from None

    def bool(self, key: str, *, default: bool | None = None) -> bool | None:
        value = self.raw(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if str(value) in TRUE:
            return True
        if str(value) in FALSE:
            return False
        raise invalid(self._name(key), "true or false is expected")

    def choice(self, key: str, choices, *, required: bool = False, default: str = "") -> str:
        value = self.str(key, required=required, default=default)
        if value and value not in choices:
            raise invalid(self._name(key), "one of " + ", ".join(choices) + " is expected")
        return value

    def list(self, key: str, *, required: bool = False, max_items: int = 0) -> list[str]:
        """A comma-separated list (`a,b,c`), blanks dropped, order kept, duplicates removed."""
        text = self.str(key, required=required)
        items = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
        if required and not items:
            raise missing(self._name(key))
        if max_items and len(items) > max_items:
            raise invalid(self._name(key), f"at most {max_items} values")
        return items

    def json_map(self, key: str) -> dict[str, str]:
        value = self.raw(key)
        if value is None or value == "":
            return {}
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise invalid(self._name(key), "a JSON object is expected") from None
        if not isinstance(value, dict):
            raise invalid(self._name(key), "a JSON object is expected")
        return {str(k): "" if v is None else (v if isinstance(v, str) else json.dumps(v)) for k, v in value.items()}

    def time(self, key: str) -> datetime | None:
        """EMAS times are UTC ISO 8601, `yyyy-MM-ddTHH:mm:ssZ`."""
        text = self.str(key)
        if not text:
            return None
        for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        raise invalid(self._name(key), "a UTC time like 2026-11-29T12:00:00Z is expected")

    def child(self, key: str) -> Params:
        """A nested object (PushV2's PushTask.Target, ...), itself read strictly."""
        value = self.raw(key)
        if value is None or value == "":
            value = {}
        if not isinstance(value, dict):
            raise invalid(self._name(key), "an object is expected")
        return Params(value, prefix=f"{self._name(key)}.")

    def finish(self, *children: Params) -> None:
        """Refuse whatever was given and not read, here and in the nested objects read."""
        left = [self._name(k) for k, v in self.data.items() if k not in self.used and v not in (None, "")]
        for child in children:
            left += [child._name(k) for k, v in child.data.items() if k not in child.used and v not in (None, "")]
        if left:
            raise unsupported(left)
