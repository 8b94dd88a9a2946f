"""Fewer index writes per push, per receipt and per device report.

- The time indexes of messages, tasks and receipts become ascending. A new row then lands
  at the right edge of its range, where PostgreSQL appends and leaves pages full, instead
  of at the left edge, where every page split left half a page empty (the message index
  was twice its size, and each insert slower). A backward scan reads them newest first,
  as the lists do.
- Foreign keys served by a composite index that leads with them lose their own index
  (device.app, task.app, receipt.app, receipt.message); the user and template references
  of a task are indexed only where set, so an API push writes none of them.

Every index is built before the one it replaces is dropped, both CONCURRENTLY on
PostgreSQL: the lists keep an index throughout, and writes are never blocked.
"""

from django.conf import settings
from django.db import migrations, models

from console.migration_ops import (
    AddIndexConcurrently,
    DropFieldIndexConcurrently,
    RemoveIndexConcurrently,
    add_raw_index,
    drop_raw_index,
)

MESSAGE_LIST = "push_type IN ('SIMPLE', 'TEMPLATE', 'CONTINUOUS')"
TASK_LIST = "push_type IN ('MULTIPLE', 'BROADCAST')"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0020_purge_without_foreign_key_checks"),
        ("console", "0005_appconfig_generation"),
        ("templates_app", "0002_templates_editor_image_profile"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Messages.
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(fields=["app", "created_at", "id"], name="message_app_time"),
        ),
        RemoveIndexConcurrently(model_name="message", name="message_app_created"),
        add_raw_index(
            "message_list_time",
            "CREATE INDEX {concurrently}IF NOT EXISTS message_list_time ON campaigns_message "
            f"(app_id, created_at, id) WHERE {MESSAGE_LIST}",
        ),
        drop_raw_index(
            "message_list_default",
            "CREATE INDEX {concurrently}IF NOT EXISTS message_list_default ON campaigns_message "
            f"(app_id, created_at DESC, id DESC) WHERE {MESSAGE_LIST}",
        ),
        # Tasks.
        AddIndexConcurrently(
            model_name="pushtask",
            index=models.Index(fields=["app", "push_type", "created_at"], name="task_app_type_time"),
        ),
        AddIndexConcurrently(
            model_name="pushtask",
            index=models.Index(fields=["app", "created_at", "id"], name="task_app_time"),
        ),
        AddIndexConcurrently(
            model_name="pushtask",
            index=models.Index(
                condition=models.Q(("created_by__isnull", False)), fields=["created_by"], name="task_created_by"
            ),
        ),
        AddIndexConcurrently(
            model_name="pushtask",
            index=models.Index(
                condition=models.Q(("approved_by__isnull", False)), fields=["approved_by"], name="task_approved_by"
            ),
        ),
        AddIndexConcurrently(
            model_name="pushtask",
            index=models.Index(
                condition=models.Q(("template_version__isnull", False)),
                fields=["template_version"],
                name="task_template_version",
            ),
        ),
        RemoveIndexConcurrently(model_name="pushtask", name="task_app_type_created"),
        RemoveIndexConcurrently(model_name="pushtask", name="task_app_created"),
        add_raw_index(
            "task_list_time",
            "CREATE INDEX {concurrently}IF NOT EXISTS task_list_time ON campaigns_pushtask "
            f"(app_id, created_at, id) WHERE {TASK_LIST}",
        ),
        drop_raw_index(
            "task_list_default",
            "CREATE INDEX {concurrently}IF NOT EXISTS task_list_default ON campaigns_pushtask "
            f"(app_id, created_at DESC, id DESC) WHERE {TASK_LIST}",
        ),
        DropFieldIndexConcurrently(model_name="pushtask", name="app"),
        DropFieldIndexConcurrently(model_name="pushtask", name="created_by"),
        DropFieldIndexConcurrently(model_name="pushtask", name="approved_by"),
        DropFieldIndexConcurrently(model_name="pushtask", name="template_version"),
        # Receipts: one index on (app, at, id) in place of three on app.
        AddIndexConcurrently(
            model_name="receiptevent",
            index=models.Index(fields=["app", "at", "id"], name="receipt_app_time"),
        ),
        RemoveIndexConcurrently(model_name="receiptevent", name="receipt_app_at"),
        drop_raw_index(
            "receipt_app_at_id",
            "CREATE INDEX {concurrently}IF NOT EXISTS receipt_app_at_id ON campaigns_receiptevent "
            "(app_id, at DESC, id DESC)",
        ),
        DropFieldIndexConcurrently(model_name="receiptevent", name="app"),
        DropFieldIndexConcurrently(model_name="receiptevent", name="message"),
        # Devices: the unique (app, device_id) serves every lookup by app.
        DropFieldIndexConcurrently(model_name="device", name="app"),
    ]
