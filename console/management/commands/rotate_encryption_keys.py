"""Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEY.

Rotation: put the new key first (keep the old ones after it), run this, then drop
the old keys from the setting.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from console import crypto
from console.fields import ENCRYPTED_FIELD_TYPES


class Command(BaseCommand):
    help = "Re-encrypt all secrets with the newest encryption key."

    def handle(self, *args, **options):
        total = 0
        quote = connection.ops.quote_name
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, ENCRYPTED_FIELD_TYPES)]
            if not fields:
                continue
            table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
            for field in fields:
                col = quote(field.column)
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SELECT {pk}, {col} FROM {table} WHERE {col} IS NOT NULL AND {col} <> ''")
                    rows = cursor.fetchall()
                    for row_id, token in rows:
                        cursor.execute(f"UPDATE {table} SET {col} = %s WHERE {pk} = %s", [crypto.rotate(token), row_id])
                    total += len(rows)
        self.stdout.write(f"Re-encrypted {total} secrets.")
