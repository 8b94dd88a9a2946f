"""The embedded default (nothing set: SQLite and the folder broker) runs every scheduled job
and a multiple push file from upload to accepted messages: the code paths that are not PostgreSQL's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
from django.core.files.uploadedfile import SimpleUploadedFile
from console.celery import app as celery_app
from console.models import App, UserProfile
from django.contrib.auth import get_user_model
from campaigns.models import Message
from campaigns.sends import services
from campaigns.sends.services import SendSpec
from tests.templates_app.helpers import make_template

celery_app.loader.import_default_modules()  # what a worker does at start: find every task
for name, entry in sorted(celery_app.conf.beat_schedule.items()):
    celery_app.tasks[entry["task"]].apply(throw=True)
    print("ran", name)

app = App.objects.get(name="Demo App")
marketer = get_user_model().objects.get(username="marketer")
template = make_template(app, name="embedded", actor=marketer)
data = (
    b"demo-device-01,e1,name=A,code=1\ndemo-device-03,e1,name=B,code=2\n"
    b"demo-device-05,e3,name=C\ndemo-device-05,e4,name=D,code=4\n"
)
spec = SendSpec(push_type="MULTIPLE", target_type="android_device", template_version=template.current_version)
upload = services.upload_create(app=app, file=SimpleUploadedFile("f.csv", data), spec=spec, actor=marketer)
upload = services.upload_validate(upload_id=upload.pk)
print("upload", upload.status, upload.good_count, upload.bad_count, [e["line"] for e in upload.errors])
task, _ = services.upload_confirm(app=app, upload_id=upload.pk, actor=marketer, skip_bad=True)
task = services.upload_ingest_messages(task_id=task.pk)
print("task", task.status, sorted(Message.objects.filter(task=task).values_list("customer_msg_id", flat=True)))

# The delivery engine's own functions, as a worker runs them: through the sandbox gateway.
from campaigns.delivery import dispatch
for chunk in dispatch.task_dispatch(task_id=task.pk):
    dispatch.chunk_deliver(**chunk)
task.refresh_from_db()
print("sent", task.status, sorted(Message.objects.filter(task=task).values_list("customer_msg_id", "state")))

simple = SendSpec(
    push_type="SIMPLE", target_type="device", targets=[("demo-device-02", "s1"), ("demo-device-04", "s2")],
    title="Hi", body="There",
)
task, _ = services.send_submit(app=app, spec=simple, source="console", actor=marketer)
for chunk in dispatch.task_dispatch(task_id=task.pk):
    dispatch.chunk_deliver(**chunk)
task.refresh_from_db()
events = sorted(set(Message.objects.filter(task=task).values_list("events__state", flat=True)))
print("simple", task.status, task.succeeded, events)
"""


def test_embedded_default_runs_every_scheduled_job_and_a_multiple_push(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG")
    }
    # What `make run` sets: DEBUG=true (the embedded default), the project's own settings.
    env.update({"PUSHDECK_VAR_DIR": str(tmp_path), "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "console.settings"})

    def manage(*args):
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    manage("migrate", "--noinput")
    manage("seed_demo")
    assert (tmp_path / "pushdeck.sqlite3").is_file()
    out = manage("shell", "-c", SCRIPT)
    for name in ("delivery-expire-sweep", "delivery-sms-fallback-sweep", "purge-old-messages", "dispatch-due-sends"):
        assert f"ran {name}" in out, out
    assert "upload partial 2 2 [2, 3]" in out, out
    assert "task queued ['e1', 'e4']" in out, out
    assert "sent finished [('e1', 'accepted'), ('e4', 'accepted')]" in out, out
    assert "simple finished 2 ['accepted']" in out, out
