"""The Celery app. Workers run `celery -A console worker -Q <queues>` on any machine."""

import os
from pathlib import Path

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init, before_task_publish, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("pushdeck")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_folders_ready = False


@celeryd_init.connect
@beat_init.connect
@before_task_publish.connect
def _broker_folders(**_kwargs) -> None:
    """The embedded default's folder broker: create its folders on first use, never at import."""
    global _folders_ready
    if _folders_ready:
        return
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    _folders_ready = True


# Each area adds its periodic jobs here.
app.conf.beat_schedule = {}
app.conf.beat_schedule["delivery-expire-sweep"] = {
    "task": "campaigns.delivery.tasks.deliver_expire_sweep",
    "schedule": 60.0,
}
# Small sends waiting in the ready list, and sends left queued too long (campaigns.delivery.ready).
app.conf.beat_schedule["delivery-ready-sweep"] = {
    "task": "campaigns.delivery.tasks.dispatch_ready",
    "schedule": 30.0,
    "kwargs": {"sweep": True},
}
app.conf.beat_schedule["delivery-parked-sweep"] = {
    "task": "campaigns.delivery.tasks.deliver_parked_sweep",
    "schedule": 30.0,
}
app.conf.beat_schedule["delivery-sms-fallback-sweep"] = {
    "task": "campaigns.delivery.tasks.deliver_sms_sweep",
    "schedule": 30.0,
}

# Hardening: data life (daily) and worker heartbeats (every minute).
app.conf.beat_schedule.update(
    {
        "purge-old-messages": {"task": "campaigns.retention.purge_old_messages", "schedule": 24 * 3600},
        "ping-workers": {"task": "console.ops.tasks.ping_workers", "schedule": 60},
        "summarise-api-refusals": {"task": "console.security.tasks.summarise_api_refusals", "schedule": 60},
    }
)
app.conf.beat_schedule["warn-expiring-certificates"] = {
    "task": "console.tasks.warn_expiring_certificates",
    "schedule": crontab(hour=7, minute=0),
}
app.conf.beat_schedule["dispatch-due-sends"] = {
    "task": "campaigns.sends.tasks.dispatch_due_sends",
    "schedule": 30.0,
}
