"""Per-send, per-channel counters for the push records page, filled from the deliveries
already there (one pass); continuous sends note the target types of their batches."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Q


def backfill(apps, schema_editor):
    Delivery = apps.get_model("campaigns", "Delivery")
    Message = apps.get_model("campaigns", "Message")
    PushTask = apps.get_model("campaigns", "PushTask")
    TaskChannelCount = apps.get_model("campaigns", "TaskChannelCount")
    rows = (
        Delivery.objects.values("message__task_id", "channel")
        .annotate(
            sent=Count("id", filter=Q(accepted_at__isnull=False)),
            arrived=Count("id", filter=Q(arrived_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            cleared=Count("id", filter=Q(cleared_at__isnull=False)),
        )
        .order_by()
    )
    TaskChannelCount.objects.bulk_create(
        (
            TaskChannelCount(
                task_id=r["message__task_id"], channel=r["channel"], sent=r["sent"], arrived=r["arrived"],
                clicked=r["clicked"], cleared=r["cleared"],
            )  # fmt: skip
            for r in rows.iterator()
        ),
        batch_size=2000,
    )
    for task in PushTask.objects.filter(push_type="CONTINUOUS").iterator():
        kinds = sorted(set(Message.objects.filter(task_id=task.pk).values_list("target_type", flat=True)))
        task.params = {**task.params, "target_types": kinds}
        task.save(update_fields=["params"])


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0009_delivery_gateway_message_id'),
    ]

    operations = [
        migrations.CreateModel(
            name='TaskChannelCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel', models.CharField(max_length=10)),
                ('sent', models.PositiveBigIntegerField(default=0)),
                ('arrived', models.PositiveBigIntegerField(default=0)),
                ('clicked', models.PositiveBigIntegerField(default=0)),
                ('cleared', models.PositiveBigIntegerField(default=0)),
                ('task', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='channel_counts', to='campaigns.pushtask')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('task', 'channel'), name='task_channel_count_unique')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
