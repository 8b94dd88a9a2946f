"""A send starts from planner statistics that have seen its tables' rows.

After a bulk change (a device import, a table emptied and filled again) PostgreSQL plans from
the last ANALYZE until autovacuum catches up; a dispatch chunk's device lookup then read every
device of the app through another index. The dispatch analyzes the tables that lag far behind.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from campaigns.lookups import Many
from campaigns.models import Device, Message, TargetType
from console.dbstats import freshen_statistics, stale_tables
from tests.concurrency import at_the_same_moment

from .conftest import make_device, make_task, run_task

pytestmark = pytest.mark.django_db

BULK = 30_000


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")


def _bulk_devices(app) -> None:
    """Statistics taken while the app had no devices, then BULK devices they know nothing of."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_device")
        cursor.execute(
            "INSERT INTO campaigns_device (app_id, device_id, platform, manufacturer, package_name, vendor, "
            "vendor_token, apns_token, apns_environment, fcm_token, app_version, account, phone_number, online, "
            "logged_in, token_dead_reason, is_test_device, created_at, client_secret) "
            "SELECT %s, 'bulk' || i, 'android', '', '', '', '', '', '', '', '1.0', '', '', false, true, '', false, "
            "now(), '' FROM generate_series(1, %s) AS i",
            [app.pk, BULK],
        )
        # A session hands its change counters to the shared statistics when it goes idle, at
        # most once a second: without this they could arrive after another session's ANALYZE
        # and count the rows it saw as changed since.
        cursor.execute("SELECT pg_stat_force_next_flush()")


def _lookup_plan(app, device_ids: list[str]) -> str:
    """The plan of a dispatch chunk's device lookup."""
    sql, params = Device.objects.filter(app=app, device_id__any=Many(device_ids)).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(line for (line,) in cursor.fetchall())


def _planned_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_a_table_grown_far_past_its_statistics_is_analyzed_and_then_looked_up_by_its_key(app, postgres):
    _bulk_devices(app)
    assert _planned_rows("campaigns_device") < BULK / 2
    assert "campaigns_device" in stale_tables(Device, Message)

    assert "campaigns_device" in freshen_statistics(Device, Message)

    assert _planned_rows("campaigns_device") >= BULK * 0.9
    plan = _lookup_plan(app, [f"bulk{i}" for i in range(1, 501)])
    # Planned for the 500 devices it finds, not through an index that holds only the app.
    assert "rows=500 " in plan and "device_app_account" not in plan and "device_app_platform" not in plan, plan
    assert "campaigns_device" not in stale_tables(Device, Message)  # done once, not on every call
    assert freshen_statistics(Device) == []


def test_a_send_freshens_the_statistics_before_it_reads_its_devices(app, gateways, postgres):
    _bulk_devices(app)
    make_device(app, "target-1", platform="ios", token="ab" * 32)
    task = make_task(app, ["target-1"], target_type=TargetType.IOS_DEVICE)

    run_task(task)

    assert _planned_rows("campaigns_device") >= BULK * 0.9
    assert [request.token for request in gateways.apns.requests] == ["ab" * 32]


def _lock_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_table_another_session_is_analyzing_is_left_to_it_and_the_callers_lock_timeout_is_kept(app, postgres):
    _bulk_devices(app)
    locked, release = threading.Event(), threading.Event()

    def hold_the_analyze_lock():
        # What a running ANALYZE or VACUUM holds: the lock a second ANALYZE waits for.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE campaigns_device IN SHARE UPDATE EXCLUSIVE MODE")
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_analyze_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with transaction.atomic():  # a caller's own transaction, with its own lock timeout
            before = _lock_timeout()
            assert freshen_statistics(Device, Message, lock_wait="200ms") == []  # gave up waiting, no error
            assert _lock_timeout() == before
            assert "campaigns_device" in stale_tables(Device)  # still due, and the transaction still usable
    finally:
        release.set()
        holder.join(10)

    with transaction.atomic():
        assert freshen_statistics(Device, Message) == ["campaigns_device"]
        assert _lock_timeout() == before  # set for the ANALYZE only, not for the rest of the transaction
    assert _planned_rows("campaigns_device") >= BULK * 0.9


@pytest.mark.django_db(transaction=True)
def test_two_sends_freshening_the_same_table_at_once_both_go_on(app, postgres):
    _bulk_devices(app)  # committed: both sessions see the rows
    results = at_the_same_moment(lambda: freshen_statistics(Device, Message))

    assert len(results) == 2  # neither raised
    # One analyzed; the other analyzed again after it or found nothing left to do.
    assert ["campaigns_device"] in results and all(r in ([], ["campaigns_device"]) for r in results)
    assert _planned_rows("campaigns_device") >= BULK * 0.9
    assert stale_tables(Device, Message) == []
