"""The offline sweep reads the online devices by last poll through a partial index, not the
whole device table. Built CONCURRENTLY on PostgreSQL (the device table is big)."""

from django.db import migrations, models

from console.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0016_log_tables_without_constraints"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="device",
            index=models.Index(
                condition=models.Q(("online", True)), fields=["last_seen_at"], name="device_online_seen"
            ),
        ),
    ]
