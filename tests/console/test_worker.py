"""A real Celery worker consumes a task through the real broker."""

import pytest
from celery.contrib.testing.worker import start_worker

from console.celery import app as celery_app
from console.models import App, KeyConfig


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_app_creation_is_finished_by_a_worker_through_the_broker(channel_admin, client_for, settings):
    assert settings.CELERY_BROKER_URL.startswith(("redis://", "amqp://")), "tests run against a real broker"
    response = client_for(channel_admin).post("/apps/new/", {"name": "Queued"})
    assert response.status_code == 302
    created = App.objects.get(name="Queued")
    # The web request only queued the key pair; nothing has made it yet.
    assert KeyConfig.objects.get(app=created).console_public_key == ""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if KeyConfig.objects.get(app=created).console_public_key:
                break
            time.sleep(0.1)
    assert "BEGIN PUBLIC KEY" in KeyConfig.objects.get(app=created).console_public_key
