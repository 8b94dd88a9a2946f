"""Hand-written INSERTs for the hot paths, built once per model from the model's own fields.

The ORM compiles every INSERT anew (each field's SQL, placeholders, the RETURNING clause); on the
server API's send path that compile cost more CPU than the database spent on the rows. These
helpers give the same rows, the same values (each field's own `pre_save` and
`get_db_prep_save`) and typed placeholders, so several tables can be filled in one statement.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

from django.db import connection
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


def values(obj: Model, skip: frozenset[str] = frozenset()) -> list:
    """The row's values as the ORM would send them."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields_of(obj.__class__, skip)]


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def saved(obj: Model, pk: int) -> Model:
    """Mark an instance inserted by hand as the ORM's own save would."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


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
