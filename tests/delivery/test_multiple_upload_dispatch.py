"""Multiple push files and the dispatcher: nothing of a file reaches a gateway before the marketer
confirms it and its ingest is complete; after that every good line does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns.delivery import dispatch
from campaigns.models import Message, MessageState, PushTask, PushType, TargetType, TaskStatus
from campaigns.sends import csvingest, services
from campaigns.sends.services import SendSpec
from tests.campaigns.send_fixtures import make_template

from .conftest import huawei_channel, make_device, run_task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def checked_upload(app, marketer, lines: int):
    """Devices with Huawei tokens and a checked file with one line per device, plus a bad line."""
    huawei_channel(app)
    for i in range(1, lines + 1):
        make_device(app, f"hw{i}", vendor="huawei", vendor_token=f"tok-{i}")
    data = "".join(f"hw{i},cm{i},name=N{i},code={i}\n" for i in range(1, lines + 1)) + "hw1,cm1,name=x,code=1\n"
    spec = SendSpec(
        push_type="MULTIPLE", target_type=TargetType.ANDROID_DEVICE, template_version=make_template(app).current_version
    )
    upload = services.upload_create(app=app, file=SimpleUploadedFile("m.csv", data.encode()), spec=spec, actor=marketer)
    upload = services.upload_validate(upload_id=upload.pk)
    assert upload.status == "partial" and upload.good_count == lines and upload.bad_count == 1
    return upload


def dispatch_everything(app) -> None:
    """What the workers would do for every send of the app, whatever its state."""
    for task in PushTask.objects.filter(app=app):
        run_task(task)


def test_an_unconfirmed_or_still_ingesting_file_sends_nothing(app, marketer, gateways):
    upload = checked_upload(app, marketer, 6)
    dispatch_everything(app)  # checked, not confirmed: no task, no message
    assert Message.objects.filter(app=app).count() == 0
    assert gateways.huawei_tokens() == []

    task, _ = services.upload_confirm(app=app, upload_id=upload.pk, actor=marketer, skip_bad=True)
    # Ingested rows of a task still "ingesting" are pending messages the dispatcher must not claim.
    count = csvingest.ingest_messages(
        upload=upload,
        task_id=task.pk,
        message_defaults={
            "push_type": PushType.MULTIPLE,
            "target_type": TargetType.ANDROID_DEVICE,
            "platform": "android",
            "payload": {"android_channel": "auto", "extras": {}},
            "created_at": timezone.now(),
            "expires_at": timezone.now() + timedelta(hours=1),
        },
    )
    assert count == 6
    assert dispatch.task_dispatch(task_id=task.pk) == []
    dispatch_everything(app)
    task.refresh_from_db()
    assert task.status == TaskStatus.INGESTING
    assert set(Message.objects.filter(task=task).values_list("state", flat=True)) == {MessageState.PENDING}
    assert gateways.huawei_tokens() == []


def test_after_confirmation_every_good_line_arrives_at_the_gateway(app, marketer, gateways):
    upload = checked_upload(app, marketer, 6)
    task, _ = services.upload_confirm(app=app, upload_id=upload.pk, actor=marketer, skip_bad=True)
    task = services.upload_ingest_messages(task_id=task.pk)
    assert task.status == TaskStatus.QUEUED and task.ingested_rows == 6
    run_task(task)
    assert sorted(gateways.huawei_tokens()) == sorted(f"tok-{i}" for i in range(1, 7))
    assert task.status == TaskStatus.FINISHED
    titles = dict(Message.objects.filter(task=task).values_list("customer_msg_id", "title"))
    assert titles == {f"cm{i}": f"Hi N{i}" for i in range(1, 7)}
    assert set(Message.objects.filter(task=task).values_list("state", flat=True)) == {MessageState.ACCEPTED}
