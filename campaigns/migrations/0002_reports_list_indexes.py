"""Indexes for the message list, task list, receipt log and usage analysis (reports).

Raw SQL with no model state: the indexes are a storage detail of the list queries in
campaigns/reports/selectors.py, whose IN lists match these predicates exactly.
"""

from django.db import migrations


def _rollup_index_forward(apps, schema_editor):
    include = (
        " INCLUDE (platform, app_version, channel, push_type, pushed, arrived, opened, ignored, cleared)"
        if schema_editor.connection.vendor == "postgresql"
        else ""
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS rollup_range_covering ON campaigns_usagerollup (app_id, granularity, bucket)"
        + include
    )


def _rollup_index_backward(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS rollup_range_covering")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS message_list_default ON campaigns_message "
            "(app_id, created_at DESC, id DESC) WHERE push_type IN ('SIMPLE', 'TEMPLATE', 'CONTINUOUS')",
            "DROP INDEX IF EXISTS message_list_default",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS task_list_default ON campaigns_pushtask "
            "(app_id, created_at DESC, id DESC) WHERE push_type IN ('MULTIPLE', 'BROADCAST')",
            "DROP INDEX IF EXISTS task_list_default",
        ),
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS receipt_app_at_id ON campaigns_receiptevent (app_id, at DESC, id DESC)",
            "DROP INDEX IF EXISTS receipt_app_at_id",
        ),
        # Analysis sums figures over a bucket range: an index-only scan needs them in the index.
        # INCLUDE is PostgreSQL's; the embedded SQLite default gets the plain index.
        migrations.RunPython(_rollup_index_forward, _rollup_index_backward),
    ]
