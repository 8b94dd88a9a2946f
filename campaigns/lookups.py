"""`field__any=[...]`: one array parameter instead of one placeholder per value.

`pk__in` with a chunk's thousand ids makes Django build, and the driver interpolate, a
thousand placeholders per query; on the delivery hot path that cost more CPU than the
query itself. On PostgreSQL this lookup sends `col = ANY(%s::type[])` with the list as a
single array; plain integers go as one array literal, so the driver quotes one string
instead of every element (which, on a purge slice's ids, took a quarter of its time).
Elsewhere it is a plain IN. Use it for long id lists only: a partial index whose predicate
says `state IN (...)` is matched against an IN, not an ANY.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db import models

from console.rowsql import pg_array

# Column types whose values Python ints already are (no per-value preparation needed).
INTEGER_ARRAYS = frozenset({"bigint", "integer", "smallint"})


class Many:
    """Values for `field__any=Many(values)` that `filter()` hands to the lookup as they are.

    Given a list, Django walks it element by element before the lookup sees it (resolving each
    as a possible expression, and on a relation checking each one's type): on a retention
    slice's or a dispatch chunk's thousands of ids that cost more than the lookup itself."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = values


class AnyOf(models.Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        return list(self.rhs.values if isinstance(self.rhs, Many) else self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        array_type = field.db_type(connection).split("(")[0]  # a foreign key gives its target's type
        if array_type in INTEGER_ARRAYS and set(map(type, self.rhs)) <= {int}:
            values = self.rhs  # already what the field would make of them
        else:
            values = [field.get_db_prep_value(v, connection, prepared=False) for v in self.rhs]
        if not values:  # as `__in=[]`: no query at all (PostgreSQL would still walk an index for it)
            raise EmptyResultSet
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::{array_type}[])", [*lhs_params, pg_array(values)]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


models.Field.register_lookup(AnyOf)
models.ForeignObject.register_lookup(AnyOf)  # relations keep their own lookup registry
