"""Factories for devices, tasks, messages, deliveries, timelines, receipts and rollups."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.db import connection
from django.utils import timezone

from campaigns.codes import PushStatus
from campaigns.models import (
    Delivery,
    Device,
    Message,
    MessageState,
    PushTask,
    ReceiptEvent,
    StatusEvent,
    UsageRollup,
    UserBinding,
)
from tests.factories import AppFactory


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    app = factory.SubFactory(AppFactory)
    device_id = factory.Sequence(lambda n: f"dev{n:06d}")
    platform = "android"
    manufacturer = "Huawei"
    vendor = "huawei"
    vendor_token = factory.Sequence(lambda n: f"hwtoken{n}")
    app_version = "1.0.0"


class UserBindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UserBinding

    device = factory.SubFactory(DeviceFactory)
    app = factory.SelfAttribute("device.app")
    user_id = factory.Sequence(lambda n: f"user-{n}")


class PushTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushTask

    app = factory.SubFactory(AppFactory)
    name = factory.Sequence(lambda n: f"Console 2026-01-01 00:00:{n:02d}")
    push_type = "MULTIPLE"
    source = "console"
    status = "finished"


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    app = factory.SubFactory(AppFactory)
    task = factory.SubFactory(PushTaskFactory, app=factory.SelfAttribute("..app"), push_type="SIMPLE")
    customer_msg_id = factory.Sequence(lambda n: f"cm-{n:08d}")
    push_type = "SIMPLE"
    target_type = "android_device"
    target_id = factory.Sequence(lambda n: f"dev{n:06d}")
    platform = "android"
    title = "Hello"
    body = "World"
    created_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda o: o.created_at + timedelta(seconds=180))
    state = MessageState.WAITING
    status = PushStatus.DEVICE_NOT_ONLINE
    channel = "huawei"


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    message = factory.SubFactory(MessageFactory)
    device = factory.SubFactory(DeviceFactory, app=factory.SelfAttribute("..message.app"))
    channel = "huawei"
    state = MessageState.QUEUED


class StatusEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StatusEvent

    message = factory.SubFactory(MessageFactory)
    state = MessageState.QUEUED
    status = PushStatus.DEVICE_NOT_ONLINE


class ReceiptEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReceiptEvent

    message = factory.SubFactory(MessageFactory)
    app = factory.SelfAttribute("message.app")
    event = "sent"


class UsageRollupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRollup

    app = factory.SubFactory(AppFactory)
    granularity = "hour"
    bucket = factory.LazyFunction(lambda: timezone.now().replace(minute=0, second=0, microsecond=0))


# The SQL each column of insert_messages() gets unless told otherwise; g is the row's number.
_BULK_MESSAGE = {
    "customer_msg_id": "'bulk-' || lpad(g::text, 7, '0')",
    "push_type": "'MULTIPLE'",
    "target_type": "'device'",
    "target_id": "'dev-' || g",
    "platform": "''",
    "title": "'t'",
    "body": "'b'",
    "payload": "'{}'::jsonb",
    "created_at": "now()",
    "expires_at": "now() + interval '1 day'",
    "state": "'pending'",
    "status": "-1",
    "status_desc": "''",
    "status_changed_at": "now()",
    "channel": "''",
}


def insert_messages(task: PushTask, first: int, last: int, **columns: str) -> None:
    """Messages number `first` to `last` of `task`, built in the database with generate_series
    (volume without Python objects). `columns` replaces a column's SQL, in which g is the number:
    state="'accepted'", created_at="now() - g * interval '1 second'"."""
    values = _BULK_MESSAGE | columns
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{Message._meta.db_table}" (app_id, task_id, {", ".join(values)}) '
            f"SELECT %s, %s, {', '.join(values.values())} FROM generate_series(%s, %s) AS g",
            [task.app_id, task.pk, first, last],
        )
