"""A send's rows are the same whichever way they are written: one statement on PostgreSQL
(campaigns.sends.services._save_send) or the ORM (the embedded SQLite's way)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Message, PushTask
from campaigns.sends import services
from campaigns.sends.services import SendSpec
from console.models import AuditEntry

VARYING = {"id", "task_id", "task", "customer_msg_id", "idempotency_key", "at"}


def _send(app, actor, now, *, prefix: str, count: int):
    spec = SendSpec(
        push_type="SIMPLE",
        target_type="device",
        name="rows",
        targets=[(f"dev-{i}", f"{prefix}-{i}") for i in range(count)],
        target_limit=count,
        title="Hello ü",
        body="It's 100% \\ done\t'now'",
        url="https://example.com/?a=1&b=%20",
        click_action="open_url",
        extras={"k": "v'1", "n": "2"},
        scheduled_at=now + timezone.timedelta(hours=1),
    )
    task, created = services.send_submit(
        app=app, spec=spec, source="console", actor=actor, idempotency_key=f"{prefix}-key", now=now
    )
    assert created
    return task


def _rows(task):
    messages = sorted(
        (
            {k: v for k, v in row.items() if k not in VARYING} | {"n": int(row["customer_msg_id"].split("-")[1])}
            for row in Message.objects.filter(task=task).values()
        ),
        key=lambda row: row["n"],
    )
    (entry,) = AuditEntry.objects.filter(target=f"task {task.pk}").values()
    return (
        {k: v for k, v in PushTask.objects.filter(pk=task.pk).values().get().items() if k not in VARYING},
        messages,
        {k: v for k, v in entry.items() if k not in VARYING | {"target"}},
    )


@pytest.mark.parametrize("count", [1, 20])  # 20: more rows than the statements kept ready
def test_one_statement_writes_the_rows_the_orm_writes(app, marketer, monkeypatch, count):
    now = timezone.now()
    fast = _send(app, marketer, now, prefix="fast", count=count)
    with monkeypatch.context() as patch:
        patch.setattr(connection, "vendor", "orm")
        orm = _send(app, marketer, now, prefix="orm", count=count)
    assert connection.vendor == "postgresql"
    assert _rows(fast) == _rows(orm)
    # The ids the answer gives are the rows' ids
    assert fast.created_message_ids == dict(Message.objects.filter(task=fast).values_list("customer_msg_id", "pk"))
    assert len(fast.created_message_ids) == count and fast.status == "scheduled"


def test_a_refused_send_leaves_no_task_message_or_audit_entry(app, marketer):
    now = timezone.now()
    _send(app, marketer, now, prefix="taken", count=2)
    before = (PushTask.objects.count(), Message.objects.count(), AuditEntry.objects.count())
    spec = SendSpec(push_type="SIMPLE", target_type="device", targets=[("dev-9", "new-9"), ("dev-1", "taken-1")])
    spec.title, spec.body = "Hi", "There"
    with pytest.raises(services.PushError, match="taken-1"):
        services.send_submit(app=app, spec=spec, source="console", actor=marketer, now=now)
    assert (PushTask.objects.count(), Message.objects.count(), AuditEntry.objects.count()) == before
