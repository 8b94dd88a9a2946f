"""Hand-written INSERTs for the hot paths, built once per model from the model's own fields.

The ORM compiles every INSERT anew (each field's SQL, placeholders, the RETURNING clause); on the
server API's send path that compile cost more CPU than the database spent on the rows. These
helpers give the same rows, the same values (each field's own `pre_save` and
`get_db_prep_save`) and typed placeholders, so several tables can be filled in one statement.

`prepared_cursor()` runs such a fixed statement as a prepared one: PostgreSQL parses and plans
it once per connection, and the parameters travel apart from the SQL (the driver does not quote
each one into the text).
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models import Field, Model


@functools.cache
def fields_of(model: type[Model], skip: frozenset[str] = frozenset()) -> tuple[Field, ...]:
    """The columns an INSERT fills: every concrete field but the primary key and `skip` (attnames)."""
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in skip)


@functools.cache
def columns(model: type[Model], skip: frozenset[str] = frozenset()) -> str:
    quote = connection.ops.quote_name
    return ", ".join(quote(f.column) for f in fields_of(model, skip))


@functools.cache
def typed_placeholders(model: type[Model], skip: frozenset[str] = frozenset()) -> str:
    """`%s::type, ...`: typed, so the values may stand in a VALUES list or a SELECT."""
    return ", ".join(f"%s::{f.cast_db_type(connection)}" for f in fields_of(model, skip))


# Fields whose preparation gives a value of this type back as it is, or (integers) wrapped in the
# driver's sized integer type, as Django's own PostgreSQL backend does: Django's own classes
# only, not subclasses, which may prepare differently.
_KEPT_TYPE = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.SmallIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.ForeignKey: int,
}
# Fields that prepare None as None (every one of Django's own classes above, and these).
_NONE_KEPT = {*_KEPT_TYPE, models.DateTimeField, models.JSONField}


@functools.cache
def _plan(model: type[Model], skip: frozenset[str]) -> tuple:
    """Per column: the field, its attname, whether its pre_save is its own, the type it takes as it
    is, how an integer is wrapped, and whether it takes None as it is."""
    sized = getattr(connections[DEFAULT_DB_ALIAS].ops, "integerfield_type_map", {})
    plan = []
    for f in fields_of(model, skip):
        kind = _KEPT_TYPE.get(type(f))
        target = f.target_field if type(f) is models.ForeignKey else f
        wrap = None
        if kind is int:
            wrap = sized.get(target.get_internal_type())
            if wrap is None or (type(f) is models.ForeignKey and not isinstance(target, models.AutoField)):
                kind = None
        own_pre_save = type(f).pre_save is not Field.pre_save
        plan.append((f, f.attname, own_pre_save, kind, wrap, type(f) in _NONE_KEPT))
    return tuple(plan)


def values(obj: Model, skip: frozenset[str] = frozenset()) -> list:
    """The row's values as the ORM would send them (each field's pre_save and get_db_prep_save).

    A value those give back as it is (None, a str for a CharField; an int for an IntegerField,
    in its sized type) is taken without them: a send's three rows have about fifty columns, and
    preparing each one cost a signed push more CPU than its SQL."""
    # The connection itself, not the `connection` proxy: each field's preparation reads several of
    # its attributes, and through the proxy every read was a context-local lookup.
    wrapper = connections[DEFAULT_DB_ALIAS]
    row = []
    for f, attname, own_pre_save, kind, wrap, none_kept in _plan(obj.__class__, skip):
        value = f.pre_save(obj, True) if own_pre_save else getattr(obj, attname)
        if value is None and none_kept:
            row.append(None)
        elif kind is not None and type(value) is kind:
            row.append(value if wrap is None else wrap(value))
        else:
            row.append(f.get_db_prep_save(value, wrapper))
    return row


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def saved(obj: Model, pk: int) -> Model:
    """Mark an instance inserted by hand as the ORM's own save would."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def prepared_cursor():
    """A cursor whose statements PostgreSQL keeps prepared on the connection: for the hot paths'
    fixed statements only (each distinct text takes a slot; the driver keeps the 100 last used).

    Django's own cursors send every statement as new text with the parameters quoted into it, so
    that it works behind a connection pooler in transaction mode; `DB_PREPARED_STATEMENTS=false`
    keeps that here too (for PgBouncer before 1.21, or without `max_prepared_statements`).
    Elsewhere than on PostgreSQL it is Django's cursor."""
    if connection.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        # Django's wrapping of its own cursors (error translation, the debug query log)
        return connection._prepare_cursor(_prepared_cursor_class()(connection.connection))


@functools.cache
def _prepared_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg._queries import PostgresQuery, _query2pg_nocache

    @functools.lru_cache(maxsize=256)
    def converted(query: bytes, encoding: str):
        return _query2pg_nocache(query, encoding)

    class KeptQuery(PostgresQuery):
        """The driver turns `%s` into `$n` anew for any statement over 4 KB or 50 parameters (it
        caches only smaller ones): for a send's INSERT that cost more than the rest of the call's
        SQL work. These statements are few and fixed: their conversions are kept."""

        __slots__ = ()

        def convert(self, query, vars):
            if vars is None:
                return super().convert(query, vars)
            query = self._ensure_bytes(query)
            self.query, self._want_formats, self._order, self._parts = converted(query, self._tx.encoding)
            self.dump(vars)

    class PreparedCursor(ServerBindingCursor):
        _query_cls = KeptQuery

        def execute(self, query, params=None, *, prepare=True, binary=None):
            return super().execute(query, params, prepare=prepare, binary=binary)

        def _send_query_prepared(self, name, pgq, *, binary=None):
            # Django's query log (last_executed_query) reads the query psycopg sent last, which
            # psycopg records for unprepared statements only.
            self._query = pgq
            return super()._send_query_prepared(name, pgq, binary=binary)

    return PreparedCursor


def _element(value) -> str:
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if isinstance(value, str):  # a str Enum (TextChoices) included: its value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, datetime):
        return '"' + value.isoformat() + '"'
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def pg_array(values: list) -> str | list:
    """`values` as one PostgreSQL array literal, for a `%s::type[]` parameter: the driver then quotes
    one string instead of every element (on a dispatch batch's arrays that cost more than the
    statement's own work). Integers, strings, aware datetimes, UUIDs and None; a list holding
    anything else is returned as it is, for the driver to adapt."""
    if set(map(type, values)) <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
    try:
        return "{" + ",".join(map(_element, values)) + "}"
    except TypeError:
        return values
