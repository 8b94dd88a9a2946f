"""Index layout of the tables written once per push, per receipt and per device report.

The time indexes are ascending and the lists read them backward, newest first, with no sort;
no index on these tables is one another index already serves.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import PushType
from campaigns.reports import selectors
from tests.factories_campaigns import MessageFactory, PushTaskFactory, ReceiptEventFactory

pytestmark = pytest.mark.django_db

HOT_TABLES = (
    "campaigns_message",
    "campaigns_pushtask",
    "campaigns_receiptevent",
    "campaigns_device",
    "campaigns_delivery",
)


def _indexes(table: str) -> list[tuple[str, bool, bool, list[str], list[bool]]]:
    """(name, unique, partial, columns, descending per column) of each index of the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, i.indisunique, i.indpred IS NOT NULL,
                   array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),
                   array(SELECT (opt & 1) = 1 FROM unnest(i.indoption) WITH ORDINALITY k(opt, o) ORDER BY k.o)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass
            """,
            [table],
        )
        return [(name, unique, partial, list(cols), list(desc)) for name, unique, partial, cols, desc in cursor]


@pytest.mark.parametrize("table", HOT_TABLES)
def test_no_index_of_a_write_hot_table_is_served_by_another(table):
    indexes = _indexes(table)
    assert indexes
    for name, unique, partial, columns, _desc in indexes:
        if unique or partial:
            continue
        for other, _u, other_partial, other_columns, _d in indexes:
            if other != name and not other_partial and other_columns[: len(columns)] == columns:
                pytest.fail(f"{table}: {name} {columns} is served by {other} {other_columns}")


@pytest.mark.parametrize("table", HOT_TABLES)
def test_time_indexes_are_ascending(table):
    """An index led by the app and then a time column takes each new row at the right edge."""
    for name, _unique, _partial, columns, desc in _indexes(table):
        if columns[:1] == ["app_id"] and columns[1:2] in (["created_at"], ["at"]):
            assert not any(desc), (name, columns, desc)


def test_a_delivery_is_written_into_these_indexes_only():
    """Each index of a delivery is written again at each change of its state (no update of it is
    HOT): a new one must earn that. None is on state alone, which a batch's claim would intersect
    with its key lookup and so read every open delivery of the send."""
    assert {name for name, *_rest in _indexes("campaigns_delivery")} == {
        "campaigns_delivery_pkey",
        "delivery_unique_message_device",
        "delivery_device_created",
        "delivery_open_by_message",
        "delivery_parked",
        "delivery_sending",
    }


def _plans(captured, table: str) -> list[str]:
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # until the test's transaction ends
        cursor.execute("SET LOCAL enable_sort = off")
        for query in captured.captured_queries:
            sql = query["sql"]
            if f'FROM "{table}"' in sql and "ORDER BY" in sql:
                cursor.execute("EXPLAIN " + sql)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def _walk(list_page, **kwargs) -> list[int]:
    """Every row id, page by page (two to a page)."""
    ids, cursor = [], ""
    while True:
        page = list_page(cursor=cursor, size=2, **kwargs)
        ids += [row.pk for row in page.rows]
        if not (cursor := page.next_cursor):
            return ids


def _newest_first(rows) -> list[int]:
    return [r.pk for r in sorted(rows, key=lambda r: (getattr(r, "created_at", None) or r.at, r.pk), reverse=True)]


def test_the_message_task_and_receipt_lists_read_their_index_backward_newest_first(app):
    now = timezone.now()
    messages = [MessageFactory(app=app, created_at=now - timedelta(minutes=i)) for i in (5, 3, 3, 1)]
    tasks = [
        PushTaskFactory(app=app, push_type=PushType.BROADCAST, created_at=now - timedelta(minutes=i)) for i in (4, 2, 2)
    ]
    receipts = [ReceiptEventFactory(message=messages[0], at=now - timedelta(minutes=i)) for i in (6, 2, 2)]

    with CaptureQueriesContext(connection) as captured:
        assert _walk(selectors.message_list, app=app) == _newest_first(messages)
        assert _walk(selectors.task_list, app=app) == _newest_first(tasks + [m.task for m in messages])
        assert _walk(selectors.receipt_list, app=app) == _newest_first(receipts)

    for table, index in (
        ("campaigns_message", "message_list_time"),
        ("campaigns_pushtask", "task_app_time"),
        ("campaigns_receiptevent", "receipt_app_time"),
    ):
        plans = _plans(captured, table)
        assert len(plans) >= 2, table  # the first page and the pages after a cursor
        for plan in plans:
            assert f"Scan Backward using {index}" in plan and "Sort" not in plan, plan
