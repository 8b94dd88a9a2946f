"""Hand-written INSERTs for the hot paths, built once per model from the model's own fields.

The ORM compiles every INSERT anew (each field's SQL, placeholders, the RETURNING clause); on the
server API's send path that compile cost more CPU than the database spent on the rows. These
helpers give the same rows, the same values (each field's own `pre_save` and
`get_db_prep_save`) and typed placeholders, so several tables can be filled in one statement.
"""

from __future__ import annotations

import functools

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
