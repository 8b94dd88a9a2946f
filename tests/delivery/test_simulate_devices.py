"""simulate_devices: virtual devices register, long-poll, ack and open against a live console."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import Device, Message, MessageState, ReceiptEvent, TargetType, UserBinding

from .conftest import make_task, run_task, wait_for


@pytest.mark.django_db(transaction=True)
def test_virtual_devices_receive_ack_and_open_messages(app, live_server, settings):
    settings.PUSHDECK_POLL_INTERVAL = 0.1
    out = io.StringIO()
    runner = threading.Thread(
        target=call_command,
        args=["simulate_devices", "--app", app.app_key, "--count", "3", "--url", live_server.url],
        kwargs={"duration": 6, "open_rate": 1.0, "seed": 1, "stdout": out},
    )
    runner.start()
    assert wait_for(lambda: UserBinding.objects.filter(app=app).count() == 3, 15)
    task = make_task(app, [f"sim-user-{i:05d}" for i in range(3)], target_type=TargetType.USER)
    run_task(task)
    runner.join(20)
    assert not runner.is_alive()
    assert Device.objects.filter(app=app).count() == 3
    assert Message.objects.filter(task=task, state=MessageState.ACCEPTED).count() == 3
    assert ReceiptEvent.objects.filter(message__task=task, event="click").count() == 3
    assert "received 3, opened 3, API errors 0" in out.getvalue()


@pytest.mark.django_db
def test_simulate_devices_refuses_bad_arguments(app):
    with pytest.raises(CommandError, match="no app"):
        call_command("simulate_devices", "--app", "nope", "--count", "1")
    with pytest.raises(CommandError, match="--count"):
        call_command("simulate_devices", "--app", app.app_key, "--count", "0")
