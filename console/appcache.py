"""The apps signed API calls name, kept in each web process between calls.

A signed call needs its app, the app's key configuration, its own rate limit and (to warn of
vendor limits) its switched-on vendor channels: four tables. A process keeps what it read and
uses it while the configuration generation is the one it was read under: one row that
PostgreSQL triggers bump in any transaction that changes those tables, however the change is
made (migration console 0005). Reading it is one primary-key read instead of the queries, and
it moves in the same transaction as the change: a call that starts after a switched-off API,
a new public key or a rotated AppSecret is committed reads the app again, in every process,
and no call can keep what a transaction is about to replace.

A call whose work ends in one write statement (a push, a device report) need not read the
generation first: with `trust_kept` it takes the kept app as it is, and the write statement
itself checks the generation (`GUARD`, with `expected_generation(app)`) and writes nothing
when it moved. The call then raises `Stale` and is answered again from the start under the
configuration read anew (console.apisign), so it is refused if the change refuses it. An
answer such a call gives without writing (a refusal, a repeated idempotency key) first calls
`confirm`, so it is never given under an out-of-date configuration.

On another database (the embedded default's SQLite) nothing is kept: every call reads the
tables. Each call gets its own copies of the kept rows, never an instance another thread holds.
"""

from __future__ import annotations

import threading

from django.db import connection
from django.db.models import Model

from . import rowsql
from .models import App, KeyConfig, VendorChannel
from .security.models import ApiRateLimit

GENERATION_SQL = "SELECT generation FROM pushdeck_appconfig_generation WHERE id = 1"
# For a write statement: `WITH g AS (GUARD) ... FROM g WHERE g.generation = COALESCE(%s::bigint, g.generation)`,
# with expected_generation(app) as the parameter (NULL: the configuration was read by this call).
GUARD = GENERATION_SQL
# Apps kept per process, at most (a process serving more apps reads the rest each call).
MAX_APPS = 10_000

_lock = threading.Lock()
_kept: dict[str, tuple[int, tuple]] = {}


class Stale(Exception):
    """The app's configuration changed since the kept copy this call trusted: answer it again."""


def _generation() -> int | None:
    if connection.vendor != "postgresql":
        return None
    with rowsql.prepared_cursor() as cursor:
        cursor.execute(GENERATION_SQL)
        return cursor.fetchone()[0]


def _row(instance: Model | None) -> tuple | None:
    if instance is None:
        return None
    return tuple(getattr(instance, f.attname) for f in instance._meta.concrete_fields)


def _instance(model: type[Model], row: tuple | None) -> Model | None:
    if row is None:
        return None
    return model.from_db("default", [f.attname for f in model._meta.concrete_fields], row)


def _read(app_key: str) -> tuple | None:
    app = App.objects.filter(app_key=app_key).select_related("keys", "api_rate_limit").first()
    if app is None:
        return None
    cache = app._state.fields_cache
    vendors = frozenset(VendorChannel.objects.filter(app=app, enabled=True).values_list("vendor", flat=True))
    return (_row(app), _row(cache.get("keys")), _row(cache.get("api_rate_limit")), vendors)


def signed_app(app_key: str, *, trust_kept: bool = False) -> App | None:
    """The app named by `app_key` with its key configuration and rate limit loaded (None:
    no such app), and `enabled_vendors` set: a copy of its own for this call.

    With `trust_kept` a kept app is taken without reading the generation: the call's write
    statement checks it (GUARD)."""
    if trust_kept and connection.vendor == "postgresql" and (entry := _kept.get(app_key)) is not None:
        app = _build(entry[1])
        app._kept_generation = entry[0]
        return app
    generation = _generation()
    entry = _kept.get(app_key) if generation is not None else None
    if entry is not None and entry[0] == generation:
        kept = entry[1]
    else:
        kept = _read(app_key)
        if kept is None:
            return None
        if generation is not None:
            with _lock:
                if len(_kept) >= MAX_APPS:
                    _kept.clear()
                _kept[app_key] = (generation, kept)
    return _build(kept)


def _build(kept: tuple) -> App:
    app_row, keys_row, limit_row, vendors = kept
    app = _instance(App, app_row)
    keys, limit = _instance(KeyConfig, keys_row), _instance(ApiRateLimit, limit_row)
    app._state.fields_cache["keys"] = keys
    app._state.fields_cache["api_rate_limit"] = limit
    if keys is not None:
        keys._state.fields_cache["app"] = app
    app.enabled_vendors = vendors
    return app


def forget() -> None:
    """Drop what this process keeps (tests)."""
    with _lock:
        _kept.clear()


def expected_generation(app: App) -> int | None:
    """The generation a write statement must find for this call (GUARD), or None when the call
    read the configuration itself."""
    return getattr(app, "_kept_generation", None)


def confirm(app: App) -> None:
    """Before answering without a guarded write: Stale if the kept configuration is out of date."""
    expected = expected_generation(app)
    if expected is None:
        return
    if _generation() != expected:
        raise Stale
    app._kept_generation = None
