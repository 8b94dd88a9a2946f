"""Migration operations shared by the apps.

An index added to a big table (messages, deliveries, status events, receipts) must not
block writes while it builds: on PostgreSQL it is built CONCURRENTLY, outside a
transaction (the migration declares ``atomic = False``). The embedded SQLite default has
no such thing and gets a plain CREATE INDEX.
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently as _PgAddIndexConcurrently
from django.contrib.postgres.operations import RemoveIndexConcurrently as _PgRemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, AlterField, RemoveIndex, RunPython
from django.db.migrations.operations.base import Operation


class AddIndexConcurrently(_PgAddIndexConcurrently):
    """AddIndexConcurrently on PostgreSQL, AddIndex elsewhere; the migration must be non-atomic."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrently(_PgRemoveIndexConcurrently):
    """RemoveIndexConcurrently on PostgreSQL, RemoveIndex elsewhere; the migration must be non-atomic."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def _concurrently(schema_editor) -> str:
    return "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""


class DropFieldIndexConcurrently(Operation):
    """A foreign key stops having its own index (``db_index=False``) when a composite index
    that leads with the column serves it: the model state changes as AlterField would, and
    the index Django made for the column is dropped CONCURRENTLY on PostgreSQL (plainly
    elsewhere). Backwards builds it again. The migration must be non-atomic."""

    reversible = True

    def __init__(self, model_name: str, name: str):
        self.model_name = model_name
        self.name = name

    def deconstruct(self):
        return self.__class__.__name__, [], {"model_name": self.model_name, "name": self.name}

    def state_forwards(self, app_label, state):
        field = state.models[app_label, self.model_name.lower()].fields[self.name]
        _name, _path, args, kwargs = field.deconstruct()
        AlterField(self.model_name, self.name, field.__class__(*args, **{**kwargs, "db_index": False})).state_forwards(
            app_label, state
        )

    def _index(self, app_label, schema_editor, state):
        model = state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        table = model._meta.db_table
        return model, field, schema_editor._create_index_name(table, [field.column], suffix="")

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        _model, _field, name = self._index(app_label, schema_editor, from_state)
        schema_editor.execute(f"DROP INDEX {_concurrently(schema_editor)}IF EXISTS {schema_editor.quote_name(name)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model, field, name = self._index(app_label, schema_editor, to_state)
        schema_editor.execute(
            f"CREATE INDEX {_concurrently(schema_editor)}IF NOT EXISTS {schema_editor.quote_name(name)} "
            f"ON {schema_editor.quote_name(model._meta.db_table)} ({schema_editor.quote_name(field.column)})"
        )

    def describe(self):
        return f"Drop the single-column index of {self.model_name}.{self.name}"

    @property
    def migration_name_fragment(self):
        return f"drop_index_{self.model_name.lower()}_{self.name.lower()}"


def _build(sql: str):
    def apply(apps, schema_editor):
        schema_editor.execute(sql.format(concurrently=_concurrently(schema_editor)))

    return apply


def _drop(name: str):
    def apply(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX {_concurrently(schema_editor)}IF EXISTS {schema_editor.quote_name(name)}")

    return apply


def add_raw_index(name: str, sql: str) -> RunPython:
    """An index with no model state (a storage detail of raw list queries), built
    CONCURRENTLY on PostgreSQL. ``sql`` is its CREATE INDEX written with ``{concurrently}``."""
    return RunPython(_build(sql), _drop(name))


def drop_raw_index(name: str, sql: str) -> RunPython:
    """The reverse of add_raw_index: dropped forwards, built again backwards."""
    return RunPython(_drop(name), _build(sql))
