"""Data life: old message rows are purged in batches; tasks and rollups keep the figures."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from campaigns.models import (
    CallbackAttempt,
    Delivery,
    Device,
    FanoutRange,
    Message,
    PushTask,
    ReceiptEvent,
    SmsMessage,
    StatusEvent,
    UsageRollup,
)
from campaigns.retention import messages_purge, purge_old_messages
from console.models import ApiNonce


def _message(app, task, device, created, n):
    message = Message.objects.create(
        app=app, task=task, customer_msg_id=f"m{n}", push_type="SIMPLE", target_type="device",
        target_id=device.device_id, title="t", body="b", created_at=created, expires_at=created + timedelta(hours=1),
    )  # fmt: skip
    delivery = Delivery.objects.create(message=message, device=device, channel="apns", created_at=created)
    StatusEvent.objects.create(message=message, delivery=delivery, state="accepted", status=2, at=created)
    ReceiptEvent.objects.create(app=app, message=message, device=device, event="arrive", at=created)
    CallbackAttempt.objects.create(app=app, message=message, delivery=delivery, url="https://example.com/r", at=created)
    return message


@pytest.fixture
def history(app):
    now = timezone.now()
    device = Device.objects.create(app=app, device_id="a" * 64, platform="ios")
    old_task = PushTask.objects.create(
        app=app, name="Console old", push_type="SIMPLE", source="console", pushed=5, succeeded=4, arrived=3,
        created_at=now - timedelta(days=40),
    )  # fmt: skip
    new_task = PushTask.objects.create(app=app, name="Console new", push_type="SIMPLE", source="console")
    old = [_message(app, old_task, device, now - timedelta(days=31 + i), i) for i in range(5)]
    new = [_message(app, new_task, device, now - timedelta(days=29), 10), _message(app, new_task, device, now, 11)]
    UsageRollup.objects.create(
        app=app, granularity="hour", bucket=now - timedelta(days=40), channel="apns", pushed=5, arrived=3
    )
    return {"now": now, "old": old, "new": new, "old_task": old_task, "device": device}


@pytest.mark.django_db
def test_messages_older_than_the_retention_are_purged_in_batches(history, settings):
    settings.PUSHDECK_MESSAGE_RETENTION_DAYS = 30
    result = messages_purge(now=history["now"], batch=2)
    assert result.messages == 5
    remaining = set(Message.objects.values_list("pk", flat=True))
    assert remaining == {m.pk for m in history["new"]}
    for model in (Delivery, StatusEvent, ReceiptEvent, CallbackAttempt):
        assert set(model.objects.values_list("message_id", flat=True)) == remaining, model.__name__
    # The task of the purged messages keeps its counters; rollups are untouched; devices stay.
    task = PushTask.objects.get(pk=history["old_task"].pk)
    assert (task.pushed, task.succeeded, task.arrived) == (5, 4, 3)
    assert UsageRollup.objects.get().pushed == 5
    assert Device.objects.filter(pk=history["device"].pk).exists()
    # A second run has nothing left to do.
    assert messages_purge(now=history["now"], batch=2).messages == 0


@pytest.mark.django_db
def test_the_purge_rests_after_each_slice_in_proportion_to_it(history, settings, monkeypatch):
    """MESSAGE_RETENTION_PAUSE: after each slice the purge sleeps that many times the slice's
    duration (so a dispatch running meanwhile keeps the cores); 0 never sleeps."""
    from campaigns import retention

    settings.PUSHDECK_MESSAGE_RETENTION_DAYS = 30
    slept: list[float] = []
    clock = iter(range(0, 1000, 2))  # every slice "takes" 2 s of the purge's monotonic clock
    monkeypatch.setattr(retention, "time", SimpleNamespace(monotonic=lambda: next(clock), sleep=slept.append))
    assert messages_purge(now=history["now"], batch=2, pause=0.5).messages == 5
    assert slept == [1.0, 1.0, 1.0]  # three slices: 2 + 2 + 1 messages
    slept.clear()
    settings.PUSHDECK_RETENTION_PAUSE = 0
    for message in history["new"]:
        Message.objects.filter(pk=message.pk).update(created_at=history["now"] - timedelta(days=60))
    assert messages_purge(now=history["now"], batch=1).messages == 2
    assert slept == []


@pytest.mark.django_db
def test_the_retention_period_is_configurable(history, settings):
    settings.PUSHDECK_MESSAGE_RETENTION_DAYS = 33
    assert messages_purge(now=history["now"]).messages == 2  # the 34- and 35-day-old ones


@pytest.mark.django_db
def test_the_daily_job_also_purges_spent_nonces(history, app, settings):
    settings.PUSHDECK_MESSAGE_RETENTION_DAYS = 30
    ApiNonce.objects.create(app=app, nonce="old", seen_at=timezone.now() - timedelta(hours=1))
    ApiNonce.objects.create(app=app, nonce="fresh")
    assert purge_old_messages() == 5
    assert list(ApiNonce.objects.values_list("nonce", flat=True)) == ["fresh"]


def test_the_daily_job_is_scheduled():
    from console.celery import app as celery_app

    entry = celery_app.conf.beat_schedule["purge-old-messages"]
    assert entry["task"] == purge_old_messages.name == "campaigns.retention.purge_old_messages"
    assert entry["schedule"] == 24 * 3600


def _old_broadcast(app, history, devices: int = 5) -> Message:
    """A broadcast 45 days old: a delivery, a timeline entry and a receipt per device."""
    created = history["now"] - timedelta(days=45)
    broadcast = Message.objects.create(
        app=app, task=history["old_task"], customer_msg_id="all", push_type="BROADCAST", target_type="all",
        created_at=created, expires_at=created + timedelta(hours=1),
    )  # fmt: skip
    for n in range(devices):
        device = Device.objects.create(app=app, device_id=f"b{n}", platform="ios")
        delivery = Delivery.objects.create(message=broadcast, device=device, channel="apns", created_at=created)
        StatusEvent.objects.create(message=broadcast, delivery=delivery, state="accepted", status=2, at=created)
        ReceiptEvent.objects.create(app=app, message=broadcast, device=device, event="sent", at=created)
    return broadcast


@pytest.mark.django_db(transaction=True)
def test_each_slice_commits_on_its_own_and_a_broken_run_is_finished_by_the_next(history, app, settings, monkeypatch):
    """A run that dies in its second slice has already committed the first; nothing is orphaned,
    and the next run purges the rest, a broadcast's deliveries included, by slices of `batch`.
    The walk is by the sweep index."""
    from django.db import connection

    from campaigns import retention

    settings.PUSHDECK_MESSAGE_RETENTION_DAYS = 30
    broadcast = _old_broadcast(app, history)
    monkeypatch.setattr(retention, "CHILD_ROWS", 1)  # slices of 2 rows: the broadcast takes three
    real, calls = retention._delete, []

    def dying(queryset):
        if queryset.model is Message:
            calls.append(queryset)
            if len(calls) == 2:
                raise RuntimeError("worker lost")
        return real(queryset)

    monkeypatch.setattr(retention, "_delete", dying)
    with pytest.raises(RuntimeError):
        messages_purge(now=history["now"], batch=2)
    oldest = sorted(history["old"], key=lambda m: m.created_at)
    gone = [broadcast.pk, oldest[0].pk]
    assert not Message.objects.filter(pk__in=gone).exists(), "the first slice stayed deleted"
    assert Message.objects.filter(pk__in=[m.pk for m in oldest[1:]]).count() == 4
    messages = set(Message.objects.values_list("pk", flat=True))
    for model in (Delivery, StatusEvent, ReceiptEvent, CallbackAttempt):
        assert set(model.objects.values_list("message_id", flat=True)) <= messages, model.__name__
    monkeypatch.setattr(retention, "_delete", real)
    assert messages_purge(now=history["now"], batch=2).messages == 4
    assert set(Message.objects.values_list("pk", flat=True)) == {m.pk for m in history["new"]}
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM campaigns_message WHERE app_id = %s AND created_at < %s "
            "ORDER BY created_at, id LIMIT 2000",
            [app.pk, history["now"]],
        )
        plan = " ".join(r[0] for r in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "Scan using message_app_time" in plan and "Backward" not in plan, plan


LOG_TABLES = (StatusEvent, ReceiptEvent, CallbackAttempt)


def _orphans() -> dict[str, int]:
    """Rows (no foreign key constraint names a message or delivery) whose message or delivery is gone."""
    messages, deliveries = Message.objects.values("pk"), Delivery.objects.values("pk")
    found = {
        "Delivery": Delivery.objects.exclude(message_id__in=messages).count(),
        "FanoutRange": FanoutRange.objects.exclude(message_id__in=messages).count(),
    }
    for model in LOG_TABLES:
        found[model.__name__] = model.objects.exclude(message_id__in=messages).count()
        if any(f.name == "delivery" for f in model._meta.fields):
            found[f"{model.__name__}.delivery"] = (
                model.objects.filter(delivery__isnull=False).exclude(delivery_id__in=deliveries).count()
            )
    found["SmsMessage"] = SmsMessage.objects.exclude(delivery_id__in=deliveries).count()
    return found


@pytest.mark.django_db
def test_a_purge_leaves_no_orphan_in_the_log_tables(history, app, settings, monkeypatch):
    """No constraint refuses an orphan: the purge itself deletes the rows of a message, a
    broadcast's (slice by slice, by delivery) as well as an ordinary message's."""
    from campaigns import retention

    settings.PUSHDECK_MESSAGE_RETENTION_DAYS = 30
    broadcast = _old_broadcast(app, history)
    FanoutRange.objects.create(message=broadcast, first_device=1, last_device=10, done=True)
    FanoutRange.objects.create(message=history["new"][0], first_device=1, last_device=10)
    for delivery in broadcast.deliveries.all():
        CallbackAttempt.objects.create(app=app, message=broadcast, delivery=delivery, url="https://example.com/r")
        SmsMessage.objects.create(app=app, delivery=delivery, phone_number="+8613800000000", provider="fake")
    kept = history["new"][0].deliveries.get()
    SmsMessage.objects.create(app=app, delivery=kept, phone_number="+8613800000001", provider="fake")
    monkeypatch.setattr(retention, "CHILD_ROWS", 1)  # the broadcast's rows go by slices of 2 deliveries
    assert messages_purge(now=history["now"], batch=2).messages == 6
    assert _orphans() == dict.fromkeys(_orphans(), 0)
    remaining = {m.pk for m in history["new"]}
    for model in LOG_TABLES:
        assert set(model.objects.values_list("message_id", flat=True)) == remaining, model.__name__
    assert list(SmsMessage.objects.values_list("delivery_id", flat=True)) == [kept.pk]
    assert list(FanoutRange.objects.values_list("message_id", flat=True)) == [history["new"][0].pk]


@pytest.mark.django_db
def test_deleting_a_message_through_the_orm_still_deletes_its_log_rows(history, app):
    """Without a database constraint the relation stays an ORM cascade: a message deleted one by
    one (the admin, a test, a data fix) takes its deliveries, timeline, receipts and attempts."""
    message = history["old"][0]
    delivery = message.deliveries.get()
    SmsMessage.objects.create(app=app, delivery=delivery, phone_number="+8613800000000", provider="fake")
    StatusEvent.objects.create(message=message, state="accepted", status=2)  # the message's own line
    message.delete()
    assert not Delivery.objects.filter(message_id=message.pk).exists()
    for model in LOG_TABLES:
        assert not model.objects.filter(message_id=message.pk).exists(), model.__name__
    assert not SmsMessage.objects.filter(delivery_id=delivery.pk).exists()
    assert _orphans() == dict.fromkeys(_orphans(), 0)
    # A delivery deleted on its own takes its timeline lines and attempts too.
    other = history["old"][1].deliveries.get()
    other.delete()
    assert not StatusEvent.objects.filter(delivery_id=other.pk).exists()
    assert not CallbackAttempt.objects.filter(delivery_id=other.pk).exists()
    assert _orphans() == dict.fromkeys(_orphans(), 0)


@pytest.mark.django_db
def test_no_constraint_names_a_message_or_delivery_and_none_checks_bulk_inserted_rows():
    """A deleted message or delivery fires one check at commit per constraint naming it (a purge
    slice's thousands of them took longer than its deletes), and an inserted row one per
    constraint it has: nothing has one on a message or delivery, messages none on their app and
    task, staged upload lines none on their upload. Rows elsewhere keep theirs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND (confrelid IN ('campaigns_message'::regclass, 'campaigns_delivery'::regclass) "
            "OR conrelid IN ('campaigns_message'::regclass, 'campaigns_senduploadrow'::regclass))"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = 'campaigns_delivery'::regclass"
        )
        assert [row[0] for row in cursor.fetchall()] == ["campaigns_device"]


@pytest.mark.django_db
def test_rows_without_a_database_constraint_still_go_with_their_app_and_device(history, app, other_app):
    """Messages and staged upload lines keep no foreign key constraint on what they name (its check
    on every inserted row cost up to 40 % of a bulk insert), nor deliveries, fan-out ranges and
    SMS rows on their message or delivery: the ORM's cascade is what removes them with what
    they hang off."""
    from campaigns.models import SendUpload, SendUploadRow

    kept = Device.objects.create(app=other_app, device_id="b" * 64, platform="ios")
    upload = SendUpload.objects.create(app=app, original_name="f.csv")
    SendUploadRow.objects.create(upload=upload, line_no=1, target_id="x", customer_msg_id="c1")
    history["device"].delete()  # its deliveries go; its receipts keep the message, device emptied
    assert not Delivery.objects.exists() and ReceiptEvent.objects.filter(device__isnull=False).count() == 0
    app.delete()
    for model in (Message, Delivery, ReceiptEvent, CallbackAttempt, SendUploadRow, PushTask, StatusEvent):
        assert not model.objects.exists(), model
    assert Device.objects.get() == kept


@pytest.mark.django_db(transaction=True)
def test_two_purges_at_the_same_moment_delete_everything_once_and_fail_nowhere(history, app, settings):
    """The daily job overlapping a slow run of the day before (or a second beat): both walk the
    same slices; neither fails, and together they leave exactly what one run leaves."""
    from tests.concurrency import at_the_same_moment

    settings.PUSHDECK_MESSAGE_RETENTION_DAYS = 30
    _old_broadcast(app, history)
    results = at_the_same_moment(lambda: messages_purge(now=history["now"], batch=2, pause=0).messages, times=2)
    assert len(results) == 2  # a run that raised returns nothing
    assert set(Message.objects.values_list("pk", flat=True)) == {m.pk for m in history["new"]}
    assert _orphans() == dict.fromkeys(_orphans(), 0)
    for model in (Delivery, StatusEvent, ReceiptEvent, CallbackAttempt):
        assert set(model.objects.values_list("message_id", flat=True)) == {m.pk for m in history["new"]}
