"""INSERT ... SELECT in the benches names the columns it fills; every other NOT NULL column
gets its model default here, so a column added later does not break a bench."""

from __future__ import annotations

import json
import uuid


def _literal(field) -> str:
    from django.db import connection

    if field.get_internal_type() == "UUIDField":
        return "gen_random_uuid()"
    if field.get_internal_type() == "DateTimeField":
        return "now()"
    value = field.get_db_prep_save(field.get_default(), connection)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if isinstance(value, uuid.UUID):
        value = str(value)
    return "'" + str(getattr(value, "adapted", value)).replace("'", "''") + "'"


def rest(model, given: str) -> tuple[str, str]:
    """(", col, ...", ", default, ...") for the NOT NULL columns of `model` missing from `given`."""
    named = {c.strip() for c in given.split(",")}
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.null or field.column in named:
            continue
        columns.append(field.column)
        values.append(_literal(field))
    if not columns:
        return "", ""
    return ", " + ", ".join(columns), ", " + ", ".join(values)
