"""Celery tasks of this area (imported by campaigns.tasks for discovery). Thin: ids in, services do the work."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="campaigns.sends.tasks.ingest_upload", acks_late=True)
def ingest_upload(upload_id: int) -> None:
    """Validate and stage an uploaded multiple push file."""
    services.upload_validate(upload_id=upload_id)


@shared_task(name="campaigns.sends.tasks.ingest_upload_messages", acks_late=True)
def ingest_upload_messages(task_id: int) -> None:
    """Turn a confirmed file's staged rows into the task's messages."""
    services.upload_ingest_messages(task_id=task_id)


@shared_task(name="campaigns.sends.tasks.dispatch_due_sends")
def dispatch_due_sends() -> int:
    """Release scheduled sends whose time has come (run every minute by beat)."""
    return len(services.dispatch_due_sends())
