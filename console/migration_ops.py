"""Migration operations shared by the apps.

An index added to a big table (messages, deliveries, status events, receipts) must not
block writes while it builds: on PostgreSQL it is built CONCURRENTLY, outside a
transaction (the migration declares ``atomic = False``). The embedded SQLite default has
no such thing and gets a plain CREATE INDEX.
"""

from __future__ import annotations

from django.contrib.postgres.operations import AddIndexConcurrently as _PgAddIndexConcurrently
from django.contrib.postgres.operations import RemoveIndexConcurrently as _PgRemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex


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
