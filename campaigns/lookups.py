"""`field__any=[...]`: one array parameter instead of one placeholder per value.

`pk__in` with a chunk's thousand ids makes Django build, and the driver interpolate, a
thousand placeholders per query; on the delivery hot path that cost more CPU than the
query itself. On PostgreSQL this lookup sends `col = ANY(%s::type[])` with the list as a
single array; elsewhere it is a plain IN. Use it for long id lists only: a partial index
whose predicate says `state IN (...)` is matched against an IN, not an ANY.
"""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db import models


class AnyOf(models.Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=False) for v in self.rhs]
        if connection.vendor == "postgresql":
            array_type = field.db_type(connection).split("(")[0]  # a foreign key gives its target's type
            return f"{lhs} = ANY(%s::{array_type}[])", [*lhs_params, values]
        if not values:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


models.Field.register_lookup(AnyOf)
models.ForeignObject.register_lookup(AnyOf)  # relations keep their own lookup registry
