import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from io import BytesIO
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from campaigns.rollups import rollup_add
from console.models import AuditEntry, UserProfile
from tests.factories_campaigns import UsageRollupFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def _url(app, name="analysis", **params):
    return reverse(f"campaigns:{name}", kwargs={"app_key": app.app_key}) + "?" + urlencode(params)


def _params(start, end, granularity, **extra):
    return {
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": end.strftime("%Y-%m-%dT%H:%M"),
        "granularity": granularity,
        **extra,
    }


class _Table(HTMLParser):
    """Rows of the table marked data-testid=usage-table."""

    def __init__(self):
        super().__init__()
        self.rows, self._in, self._cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("data-testid", "usage-table") in attrs:
            self._in = True
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _table(html):
    parser = _Table()
    parser.feed(html)
    return [r for r in parser.rows if r]


def _chart(html):
    return json.loads(re.search(r'<script id="usage-data" type="application/json">(.*?)</script>', html, re.S).group(1))


def test_rates_and_division_by_zero_shown_as_dash(app, marketer, client_for):
    UsageRollupFactory(app=app, bucket=DAY, channel="selfbuilt", pushed=10, arrived=8, opened=2, ignored=4, cleared=1)
    UsageRollupFactory(app=app, bucket=DAY + timedelta(days=1), channel="huawei", pushed=5, arrived=0)
    UsageRollupFactory(app=app, bucket=DAY + timedelta(days=2), channel="huawei", pushed=0)
    html = client_for(marketer).get(_url(app, **_params(DAY, DAY + timedelta(days=3), "day"))).content.decode()
    rows = _table(html)
    assert rows[0] == ["2026-03-10", "10", "8", "80.00%", "2", "25.00%", "4", "50.00%", "1"]
    # arrived 0: open and ignore rates are "-"; ignore rate is over self-built arrivals only.
    assert rows[1] == ["2026-03-11", "5", "0", "0.00%", "0", "-", "0", "-", "0"]
    assert rows[2] == ["2026-03-12", "0", "0", "-", "0", "-", "0", "-", "0"]
    chart = _chart(html)
    assert chart["rates"]["opened_rate"] == [25.0, None, None]


def test_minute_and_hour_only_for_one_day_or_less_and_90_day_cap(app, marketer, client_for):
    c = client_for(marketer)
    for gran in ("minute", "hour"):
        response = c.get(_url(app, **_params(DAY, DAY + timedelta(days=1, minutes=1), gran)))
        assert "only available for a range of one day or less" in response.content.decode()
        assert response.context.get("table") is None
        ok = c.get(_url(app, **_params(DAY, DAY + timedelta(days=1), gran)))
        assert ok.context["table"] is not None
    too_long = c.get(_url(app, **_params(DAY, DAY + timedelta(days=91), "day")))
    assert "at most 90 days" in too_long.content.decode()
    backwards = c.get(_url(app, **_params(DAY, DAY - timedelta(days=1), "day")))
    assert "The end must be after the start." in backwards.content.decode()
    garbage = c.get(_url(app, start="yesterday", end="", granularity="week"))
    assert garbage.status_code == 200 and set(garbage.context["form"].errors) >= {"start", "end", "granularity"}


def test_minute_hour_and_day_buckets_from_rollups_added_by_the_engine(app, marketer, client_for):
    for minute in (1, 1, 2):
        rollup_add(app_id=app.pk, at=DAY + timedelta(hours=3, minutes=minute), channel="fcm", pushed=1, arrived=1)
    rollup_add(app_id=app.pk, at=DAY + timedelta(hours=5), channel="fcm", pushed=1)
    c = client_for(marketer)
    minute = _table(c.get(_url(app, **_params(DAY, DAY + timedelta(days=1), "minute"))).content.decode())
    assert [(r[0], r[1]) for r in minute] == [
        ("2026-03-10 03:01", "2"),
        ("2026-03-10 03:02", "1"),
        ("2026-03-10 05:00", "1"),
    ]
    hour = _table(c.get(_url(app, **_params(DAY, DAY + timedelta(days=1), "hour"))).content.decode())
    assert [(r[0], r[1], r[2]) for r in hour] == [("2026-03-10 03:00", "3", "3"), ("2026-03-10 05:00", "1", "0")]


def test_day_buckets_follow_the_viewers_time_zone(app, marketer, client_for):
    UsageRollupFactory(app=app, bucket=DAY + timedelta(hours=14), pushed=3)  # 23:00 in Tokyo
    UsageRollupFactory(app=app, bucket=DAY + timedelta(hours=16), pushed=4)  # 01:00 next day in Tokyo
    params = _params(DAY - timedelta(days=1), DAY + timedelta(days=2), "day")
    c = client_for(marketer)
    assert [(r[0], r[1]) for r in _table(c.get(_url(app, **params)).content.decode())] == [("2026-03-10", "7")]
    UserProfile.objects.filter(user=marketer).update(timezone="Asia/Tokyo")
    rows = _table(c.get(_url(app, **params)).content.decode())
    assert [(r[0], r[1]) for r in rows] == [("2026-03-10", "3"), ("2026-03-11", "4")]


def test_filters_platform_version_channel_push_type(app, marketer, client_for):
    UsageRollupFactory(
        app=app, bucket=DAY, platform="ios", app_version="2.0", channel="apns", push_type="SIMPLE", pushed=1
    )
    UsageRollupFactory(
        app=app, bucket=DAY, platform="android", app_version="1.0", channel="huawei", push_type="MULTIPLE", pushed=10
    )
    UsageRollupFactory(
        app=app,
        bucket=DAY,
        platform="android",
        app_version="2.0",
        channel="selfbuilt",
        push_type="BROADCAST",
        pushed=100,
    )
    c = client_for(marketer)

    def pushed(**f):
        rows = _table(c.get(_url(app, **_params(DAY, DAY + timedelta(days=1), "day", **f))).content.decode())
        return int(rows[0][1]) if rows and rows[0][0] != "No activity in this range." else 0

    assert pushed() == 111
    assert pushed(platform="android") == 110
    assert pushed(app_version="2.0") == 101
    assert pushed(channel="huawei") == 10
    assert pushed(push_type="BROADCAST") == 100
    assert pushed(platform="ios", channel="huawei") == 0


def test_chart_data_equals_table_equals_excel_export(app, marketer, client_for):
    UsageRollupFactory(app=app, bucket=DAY, channel="selfbuilt", pushed=10, arrived=8, opened=2, ignored=1, cleared=3)
    UsageRollupFactory(app=app, bucket=DAY, channel="apns", pushed=7, arrived=7, opened=1)
    UsageRollupFactory(app=app, bucket=DAY + timedelta(days=1), channel="apns", pushed=4, arrived=0)
    params = _params(DAY, DAY + timedelta(days=2), "day")
    c = client_for(marketer)
    html = c.get(_url(app, **params)).content.decode()
    chart, table = _chart(html), _table(html)
    response = c.get(_url(app, "analysis-export", **params))
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(BytesIO(b"".join(response.streaming_content))).active
    export = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]

    def fmt(v):
        return "-" if v is None else f"{v:.2f}%"

    assert len(chart["labels"]) == len(table) == len(export) == 2
    for i, row in enumerate(table):
        c_row = [chart["labels"][i], *(chart["counts"][k][i] for k in ("pushed", "arrived"))]
        assert row[:3] == [str(v) for v in c_row]
        assert row[3] == fmt(chart["rates"]["arrived_rate"][i])
        assert row[4:6] == [str(chart["counts"]["opened"][i]), fmt(chart["rates"]["opened_rate"][i])]
        assert row[6:8] == [str(chart["counts"]["ignored"][i]), fmt(chart["rates"]["ignored_rate"][i])]
        assert row[8] == str(chart["counts"]["cleared"][i])
        e = export[i]
        assert [str(e[0]), str(e[1]), str(e[2]), str(e[4]), str(e[6]), str(e[8])] == [
            row[k] for k in (0, 1, 2, 4, 6, 8)
        ]
        assert [fmt(None if e[k] == "-" else e[k]) for k in (3, 5, 7)] == [row[3], row[5], row[7]]
    assert table[0][:3] == ["2026-03-10", "17", "15"]
    assert AuditEntry.objects.filter(action="analysis.export", actor=marketer).exists()
    funnel = html.split('data-testid="funnel"')[1]
    assert (
        "<td>APNs</td><td>11</td><td>7</td>" in funnel and "<td>Self-built channel</td><td>10</td><td>8</td>" in funnel
    )


def test_the_chart_fills_empty_buckets_the_table_lists_figures(app, marketer, client_for):
    rollup_add(app_id=app.pk, at=DAY + timedelta(hours=3), channel="fcm", pushed=5)
    c = client_for(marketer)
    response = c.get(_url(app, **_params(DAY - timedelta(days=3), DAY + timedelta(days=4), "day")))
    chart = response.context["chart"]
    # A week with sends on one day is seven points, not one dot at the left edge.
    assert chart["labels"] == [f"2026-03-{d:02d}" for d in range(7, 14)]
    assert chart["counts"]["pushed"] == [0, 0, 0, 5, 0, 0, 0]
    assert [(r[0], r[1]) for r in _table(response.content.decode())] == [("2026-03-10", "5")]
    hours = c.get(_url(app, **_params(DAY, DAY + timedelta(hours=6), "hour"))).context["chart"]
    assert len(hours["labels"]) == 6 and hours["counts"]["pushed"] == [0, 0, 0, 5, 0, 0]
