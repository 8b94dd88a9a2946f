"""Celery tasks of this area (imported by campaigns.tasks for discovery)."""
