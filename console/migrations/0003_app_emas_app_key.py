"""Every app gets a numeric EMAS AppKey; existing apps get theirs here, their AppKey is untouched."""

import secrets

from django.db import migrations, models

import console.models


def fill(apps, schema_editor):
    App = apps.get_model("console", "App")
    taken = set()
    for app in App.objects.filter(emas_app_key__isnull=True).only("pk"):
        while True:
            key = console.models.EMAS_APP_KEY_MIN + secrets.randbelow(
                console.models.EMAS_APP_KEY_MAX - console.models.EMAS_APP_KEY_MIN + 1
            )
            if key not in taken:
                break
        taken.add(key)
        App.objects.filter(pk=app.pk).update(emas_app_key=key)


class Migration(migrations.Migration):
    dependencies = [("console", "0002_audit_append_only")]

    operations = [
        migrations.AddField(
            model_name="app",
            name="emas_app_key",
            field=models.BigIntegerField(editable=False, null=True, verbose_name="EMAS AppKey"),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="app",
            name="emas_app_key",
            field=models.BigIntegerField(
                default=console.models.new_emas_app_key, editable=False, unique=True, verbose_name="EMAS AppKey"
            ),
        ),
    ]
