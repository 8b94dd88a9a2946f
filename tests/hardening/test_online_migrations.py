"""Upgrades do not block writes: an index added or dropped after an app's first migration is
built or dropped CONCURRENTLY (PostgreSQL), in a migration that runs outside a transaction."""

from __future__ import annotations

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddIndex, RemoveIndex

from console.migration_ops import AddIndexConcurrently, RemoveIndexConcurrently

OUR_APPS = {"console", "campaigns", "templates_app"}


def test_indexes_after_the_first_migration_are_built_concurrently():
    loader = MigrationLoader(None, ignore_no_migrations=True)  # the files only, no database
    blocking, in_a_transaction, checked = [], [], 0
    for (app, name), migration in loader.disk_migrations.items():
        if app not in OUR_APPS or migration.initial:
            continue
        for operation in migration.operations:
            if isinstance(operation, (AddIndex, RemoveIndex)):
                checked += 1
                if not isinstance(operation, (AddIndexConcurrently, RemoveIndexConcurrently)):
                    blocking.append(f"{app}.{name}: {operation.describe()}")
                elif migration.atomic:
                    in_a_transaction.append(f"{app}.{name}")
    assert checked >= 5  # the rule has something to check
    assert blocking == [] and in_a_transaction == [], (blocking, in_a_transaction)
