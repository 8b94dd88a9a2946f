"""console.rowsql.values gives each column what the ORM's own preparation gives
(pre_save, then get_db_prep_save), taking some values as they are to save the work."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Device, Message, MessageState, PushTask, TaskStatus
from console import rowsql
from console.models import AuditEntry

pytestmark = pytest.mark.django_db


def orm_values(obj, skip=frozenset()):
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in rowsql.fields_of(type(obj), skip)]


def comparable(values):
    # JSON values are wrapped for the driver: compare what they wrap.
    return [(type(v).__name__, getattr(v, "obj", v)) for v in values]


@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime")
def test_values_match_the_orms_preparation_column_by_column(app, marketer):
    now = timezone.now()
    task = PushTask(
        app=app,
        name="ünï 'quoted' %s",
        push_type="SIMPLE",
        source="api",
        created_by=marketer,
        params={"values": {"a": 1}, "payload": None},
        status=TaskStatus.QUEUED,  # a str enum
        created_at=now,
        scheduled_at=dt.datetime(2026, 1, 2, 3, 4, 5),  # naive: the ORM makes it aware
        total_rows=True,  # a bool where an int is kept: the ORM turns it into 1
        target_count=7,
    )
    message = Message(
        app=app, task=task, push_type="SIMPLE", customer_msg_id="m-1", state=MessageState.PENDING, created_at=now
    )
    entry = AuditEntry(action="send.submit", actor=marketer, app=app, summary={"n": 1}, ip="127.0.0.1")
    device = Device(app=app, device_id="d-1", platform="android", client_secret="s3cret", online=True)
    for obj, skip in (
        (task, frozenset()),
        (message, frozenset({"task_id"})),
        (entry, frozenset()),
        (device, frozenset()),
    ):
        expected = orm_values(obj, skip)
        ours = rowsql.values(obj, skip)
        if obj is device:  # encrypted anew each time: compare what decrypts
            index = [f.attname for f in rowsql.fields_of(Device)].index("client_secret")
            field = Device._meta.get_field("client_secret")
            assert field.from_db_value(ours[index], None, connection) == "s3cret"
            ours[index] = expected[index] = None
        assert comparable(ours) == comparable(expected)
    assert rowsql.values(task)[[f.attname for f in rowsql.fields_of(PushTask)].index("total_rows")] == 1
