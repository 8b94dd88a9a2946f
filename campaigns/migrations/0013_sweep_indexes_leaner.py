"""Leaner sweep indexes: retention walks message_app_created app by app, so the table keeps
one index fewer to update on every insert; the expiry index leaves out pending messages, so
a big send's ingest does not write to it. Built and dropped CONCURRENTLY on PostgreSQL."""

from django.db import migrations, models

from console.migration_ops import AddIndexConcurrently, RemoveIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0012_device_client_secret"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                condition=models.Q(("state__in", ["queued", "sending", "waiting"])),
                fields=["expires_at"],
                name="message_expiry_open",
            ),
        ),
        RemoveIndexConcurrently(model_name="message", name="message_open_expiry"),
        RemoveIndexConcurrently(model_name="message", name="message_created_id"),
    ]
