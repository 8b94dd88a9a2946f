"""`field__any=[...]`: one array parameter; integer ids as one array literal on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from campaigns.lookups import Many
from campaigns.models import Device
from console.models import App


def _sql(queryset) -> tuple[str, tuple]:
    return queryset.query.sql_with_params()


@pytest.fixture
def devices(app, other_app):
    return [
        Device.objects.create(app=a, device_id=f"d{n}", platform="android") for n, a in enumerate((app, app, other_app))
    ]


@pytest.mark.django_db
def test_integer_ids_go_as_one_array_literal_and_match_the_same_rows(devices, app):
    ids = [d.pk for d in devices[:2]] + [10**12]
    queryset = Device.objects.filter(pk__any=ids)
    sql, params = _sql(queryset)
    if connection.vendor == "postgresql":
        assert "= ANY(%s::bigint[])" in sql
        assert params == ("{" + ",".join(map(str, ids)) + "}",)
    assert set(queryset.values_list("pk", flat=True)) == {d.pk for d in devices[:2]}
    # A foreign key takes its target's type: the app ids, one literal too.
    by_app = Device.objects.filter(app_id__any=[app.pk])
    assert set(by_app.values_list("pk", flat=True)) == {d.pk for d in devices[:2]}


@pytest.mark.django_db
def test_values_that_are_not_plain_integers_are_prepared_one_by_one(devices):
    # Strings on an integer column are converted by the field, not written into the literal as they are.
    queryset = Device.objects.filter(pk__any=[str(devices[0].pk), devices[1].pk])
    if connection.vendor == "postgresql":
        assert _sql(queryset)[1] == (f"{{{devices[0].pk},{devices[1].pk}}}",)
    assert set(queryset.values_list("pk", flat=True)) == {devices[0].pk, devices[1].pk}
    with pytest.raises((ValueError, TypeError)):
        list(Device.objects.filter(pk__any=["1}, {2"]))
    # Text columns keep their list of strings, whatever they hold.
    named = Device.objects.filter(device_id__any=["d0", "d1}", "'); DROP TABLE x; --"])
    assert list(named.values_list("device_id", flat=True)) == ["d0"]


@pytest.mark.django_db
def test_an_empty_list_matches_nothing_without_a_query(devices):
    """As `__in=[]`: an empty list sends nothing to the database (PostgreSQL walked an index for
    `= ANY('{}')`, tens of milliseconds each on a big send's tables)."""
    with CaptureQueriesContext(connection) as captured:
        assert not Device.objects.filter(pk__any=[]).exists()
        assert list(Device.objects.select_for_update().filter(pk__any=Many([]), platform="android")) == []
        assert Device.objects.filter(pk__any=Many(set())).update(platform="ios") == 0
    assert captured.captured_queries == []
    assert App.objects.exclude(pk__any=[]).count() == App.objects.count()
    assert Device.objects.filter(Q(pk__any=Many([])) | Q(device_id="d0")).count() == 1
    assert Device.objects.filter(platform="ios").count() == 0


@pytest.mark.django_db
def test_many_hands_its_values_to_the_lookup_as_they_are(devices, app):
    """`Many(values)`: the same rows and the same statement as the list, which filter() would walk."""
    ids = [d.pk for d in devices]
    assert _sql(Device.objects.filter(pk__any=Many(ids))) == _sql(Device.objects.filter(pk__any=ids))
    assert Device.objects.filter(app_id__any=Many({app.pk})).count() == 2  # any iterable, a relation too
    named = Device.objects.filter(device_id__any=Many(("d1", "d2", "nobody")))
    assert set(named.values_list("device_id", flat=True)) == {"d1", "d2"}
    assert not Device.objects.filter(pk__any=Many([])).exists()


@pytest.mark.django_db
def test_an_array_literal_keeps_every_value_as_it_was():
    """pg_array: what PostgreSQL reads back from the literal is the list itself."""
    import uuid
    from datetime import UTC, datetime

    from console.rowsql import pg_array

    texts = ["plain", 'a "quoted" word', "back\\slash\\", "", "NULL", "{braces, commas}", "ünïcødé ✓", None, "'; --"]
    at = datetime(2026, 11, 30, 12, 34, 56, 789012, tzinfo=UTC)
    ids = [uuid.uuid4(), uuid.uuid4()]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::varchar[], %s::bigint[], %s::integer[], %s::timestamptz[], %s::uuid[]",
            [pg_array(texts), pg_array([1, 2**62]), pg_array([3, None]), pg_array([at, None]), pg_array(ids)],
        )
        assert cursor.fetchone() == (texts, [1, 2**62], [3, None], [at, None], ids)
    # Anything else goes to the driver as the list it is.
    assert pg_array([True, False]) == [True, False]
    assert pg_array([1.5]) == [1.5]
