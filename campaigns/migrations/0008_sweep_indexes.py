"""Indexes for the sweeps: retention (oldest messages first) and expiry (open messages past
their valid period). Built CONCURRENTLY on PostgreSQL so an upgrade does not block sends."""

from django.db import migrations, models

from console.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0007_upload_status_choices"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(fields=["created_at", "id"], name="message_created_id"),
        ),
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(
                condition=models.Q(("state__in", ["pending", "queued", "sending", "waiting"])),
                fields=["expires_at"],
                name="message_open_expiry",
            ),
        ),
    ]
