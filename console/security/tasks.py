"""Beat job: each closed minute of refused API calls becomes one audit summary."""

from __future__ import annotations

from celery import shared_task

from .api import audit_refusal_summaries


@shared_task(acks_late=True)
def summarise_api_refusals() -> int:
    return audit_refusal_summaries()
