"""Stop of a big send: how long the request takes, and how long the worker's cancellation takes.

Creates its own PostgreSQL database (``bench_stop``), migrates it and, for each size, loads
with generate_series one running task of that many messages (100 of them already fanned out
to deliveries). Then times the stop as the console's view runs it (``services.task_stop`` in
one transaction: it ends the task and queues the work), and the worker's job
(``deliver_task_stop``: the open messages end CANCELLED in committed batches). Prints both,
and the messages cancelled per second. Drops the database at the end (``--keep`` keeps it).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CELERY_BROKER_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python bench/stop.py --sizes 1000000,2500000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
from common import drop_database, recreate_database  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB", "bench_stop")


def _load(app, size: int):
    """A running task of `size` pending messages, 100 of them with a queued delivery."""
    from django.db import connection

    from campaigns.models import Delivery, Device, Message, PushTask, TaskStatus

    task = PushTask.objects.create(
        app=app, name=f"Big {size}", push_type="MULTIPLE", source="console", status=TaskStatus.RUNNING
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{Message._meta.db_table}" (app_id, task_id, customer_msg_id, push_type, target_type, '
            "target_id, platform, title, body, payload, created_at, expires_at, state, status, status_desc, "
            "status_changed_at, channel) "
            "SELECT %s, %s, %s || '-' || g, 'MULTIPLE', 'device', 'd' || (g %% 100), '', 't', 'b', '{}'::jsonb, now(), "
            "now() + interval '1 day', 'pending', -1, '', now(), '' FROM generate_series(1, %s) g",
            [app.pk, task.pk, f"t{task.pk}", size],
        )
        cursor.execute(
            f'INSERT INTO "{Delivery._meta.db_table}" (message_id, device_id, channel, state, status, gateway_reason, '
            "push_id, attempts, created_at, updated_at) "
            f"SELECT m.id, d.id, 'apns', 'queued', 0, '', gen_random_uuid(), 0, now(), now() "
            f'FROM (SELECT id, target_id FROM "{Message._meta.db_table}" WHERE task_id = %s ORDER BY id LIMIT 100) m '
            f'JOIN "{Device._meta.db_table}" d ON d.app_id = %s AND d.device_id = m.target_id',
            [task.pk, app.pk],
        )
        cursor.execute(f'ANALYZE "{Message._meta.db_table}"')
    return task


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000000,2500000", help="messages per task, comma separated")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    recreate_database(BENCH_DB)
    import django

    django.setup()
    from celery import current_app
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from campaigns.delivery.tasks import deliver_task_stop
    from campaigns.models import Device, Message, MessageState
    from campaigns.sends import services
    from console.models import App

    sent: list = []
    current_app.send_task = lambda name, args=None, **kw: sent.append((name, args))  # no worker here: run it below
    try:
        call_command("migrate", verbosity=0)
        app = App.objects.create(name="Stop bench")
        Device.objects.bulk_create(Device(app=app, device_id=f"d{i}", platform="ios") for i in range(100))
        actor = get_user_model().objects.create(username="stop-bench")
        for size in [int(s) for s in args.sizes.split(",")]:
            started = time.monotonic()
            task = _load(app, size)
            print(f"loaded a running task of {size:,} messages in {time.monotonic() - started:.0f}s", flush=True)
            started = time.monotonic()
            with transaction.atomic():
                stopped = services.task_stop(app=app, task_id=task.pk, actor=actor)
            request_s = time.monotonic() - started
            assert sent[-1] == (services.STOP_TASK, [task.pk])
            started = time.monotonic()
            cancelled = deliver_task_stop(task.pk)
            worker_s = time.monotonic() - started
            left = Message.objects.filter(task=task).exclude(state=MessageState.CANCELLED).count()
            print(
                f"{size:,} messages: stop request {request_s * 1000:.0f} ms (reports {stopped.cancelled_count:,} "
                f"to cancel); worker cancelled {cancelled:,} in {worker_s:.1f}s "
                f"({cancelled / worker_s:,.0f} messages/s), {left} not cancelled",
                flush=True,
            )
    finally:
        connection.close()
        if not args.keep:
            drop_database(BENCH_DB)


if __name__ == "__main__":
    main()
