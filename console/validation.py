"""One rule per kind of input, used by every form, API door and file parser.

- URLs (click URLs, icon and image URLs, callback URLs): http or https only, a host, no
  spaces or control characters. `javascript:`, `data:`, `file:` and the like never pass.
- Target ids (devices, users, accounts, aliases, tags): 1-128 printable characters, none of
  the markup characters < > " ' ` and no spaces at either end.
- Names (template and task names): printable, no control characters.
- Free text (titles, bodies, descriptions): no control characters except line breaks and tabs.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

URL_SCHEMES = ("http", "https")
TARGET_ID_MAX = 128
_URL = URLValidator(schemes=list(URL_SCHEMES))
_MARKUP = re.compile(r"[<>\"'`]")


def http_url_ok(value: str, *, placeholders: re.Pattern | None = None) -> bool:
    """True for an http(s) URL; with `placeholders`, a URL whose filled-in version is one."""
    if not isinstance(value, str) or value != value.strip():
        return False
    sample = placeholders.sub("x", value) if placeholders is not None else value
    try:
        _URL(sample)
    except ValidationError:
        return False
    return True


def _has_control(value: str, allowed: str = "") -> bool:
    # A printable string holds no character of the categories below (Python counts every
    # "C*" character as not printable): one C-level pass settles the usual case, and only
    # strings with line breaks, tabs or other separators take the per-character check.
    if value.isprintable():
        return False
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") and c not in allowed for c in value)


def target_id_ok(value: str) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= TARGET_ID_MAX
        and value == value.strip()
        and not _MARKUP.search(value)
        and not _has_control(value)
    )


def name_ok(value: str) -> bool:
    return isinstance(value, str) and not _has_control(value)


def text_ok(value: str) -> bool:
    return isinstance(value, str) and not _has_control(value, allowed="\n\r\t")
