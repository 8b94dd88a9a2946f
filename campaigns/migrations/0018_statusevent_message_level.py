"""One device's timeline of a broadcast reads the message's own events (those no delivery
carries) through a partial index. Built CONCURRENTLY on PostgreSQL (the event table is big)."""

from django.db import migrations, models

from console.migration_ops import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0017_device_online_seen"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="statusevent",
            index=models.Index(
                condition=models.Q(("delivery", None)), fields=["message", "at"], name="statusevent_message_level"
            ),
        ),
    ]
