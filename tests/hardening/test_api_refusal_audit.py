"""Refusals before authentication are counted and audited once per app, answer and minute.

Anyone can forge calls against a public AppKey: they must not fill the audit log.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from console.metrics import counter_values
from console.models import AuditEntry
from console.security.api import API_REFUSALS, audit_refusal_summaries
from console.security.models import ApiRateLimit, ApiRefusalWindow
from console.security.views import api_ping
from tests.apiclient import SignedClient, enable_server_api
from tests.concurrency import at_the_same_moment

PING = "/api/v1/ping"


@pytest.fixture
def signed(app, client):
    return SignedClient(client, app, private_pem=enable_server_api(app))


def _entries():
    return AuditEntry.objects.filter(action__startswith="api.refused")


def _forged_requests(signed, n):
    factory = RequestFactory()
    body = b"{}"
    for i in range(n):
        headers = signed.headers("POST", PING, body, nonce=f"forged-{i}", signature="Zm9yZ2Vk")
        yield factory.post(PING, data=body, content_type="application/json", **headers)


FORGED = 500  # bench/api_refusals.py runs 10,000


@pytest.mark.django_db
def test_forged_calls_leave_a_handful_of_audit_rows(signed, app):
    """The call path is the real one (the signed_api view), driven without the test client's overhead."""
    key = '{"code":"-1","kind":"server","status":"401"}'
    counted_before = counter_values(API_REFUSALS).get(key, 0)
    started = time.monotonic()
    first_minute = timezone.now().replace(second=0, microsecond=0)
    statuses = {api_ping(request).status_code for request in _forged_requests(signed, FORGED)}
    elapsed = time.monotonic() - started
    minutes = int((timezone.now() - first_minute).total_seconds() // 60) + 1
    assert statuses == {401}
    rows = _entries().count()
    # One entry for the first refusal of each minute the run touched.
    assert rows == minutes, (rows, minutes)
    first = _entries().order_by("pk").first()
    assert first.action == "api.refused" and first.app == app and first.summary["resultCode"] == -1
    assert sum(ApiRefusalWindow.objects.values_list("hits", flat=True)) == FORGED
    # Counted in the metrics, one by one.
    assert counter_values(API_REFUSALS)[key] - counted_before == FORGED
    # When the minute is over, the rest is one summary per window.
    written = audit_refusal_summaries(now=timezone.now() + timedelta(minutes=1))
    summaries = list(_entries().filter(action="api.refused.summary"))
    assert written == len(summaries) == rows
    assert sum(e.summary["count"] for e in summaries) == FORGED
    assert {e.summary["resultCode"] for e in summaries} == {-1}
    assert not ApiRefusalWindow.objects.exists()
    assert _entries().count() == 2 * rows
    print(f"{FORGED} forged calls in {elapsed:.1f}s, {_entries().count()} audit rows")


@pytest.mark.django_db
def test_unknown_app_keys_share_one_bucket(client):
    _clear_of_a_minute_boundary()
    for i in range(30):
        response = client.post(PING, b"{}", content_type="application/json", HTTP_X_PUSHDECK_APP_KEY=f"nope-{i}")
        assert response.json()["resultCode"] == 3007
    assert _entries().count() == 1
    assert ApiRefusalWindow.objects.get().hits == 30


def _clear_of_a_minute_boundary(seconds: int = 10) -> None:
    """Rate and refusal windows are per minute: start where none turns over mid-test."""
    now = timezone.now()
    if now.second >= 60 - seconds:
        time.sleep(60 - now.second - now.microsecond / 1e6 + 0.05)


@pytest.mark.django_db
def test_429s_are_summarised_and_authenticated_refusals_audited_one_by_one(signed, app):
    _clear_of_a_minute_boundary()
    ApiRateLimit.objects.create(app=app, per_minute=1)
    assert signed.post(PING, {}).status_code == 200
    for _ in range(5):
        assert signed.post(PING, {}).status_code == 429
    assert _entries().filter(action="api.refused", summary__status=429).count() == 1
    ApiRateLimit.objects.filter(app=app).update(per_minute=0)
    # Authenticated, then refused by the view: each is its own entry.
    for _ in range(2):
        assert signed.post("/api/v1/push/simple", {"deliveryType": 9}).json()["resultCode"] != 100
    refused = AuditEntry.objects.filter(action="api.refused", app=app).exclude(summary__status=429)
    assert refused.count() == 2


@pytest.mark.django_db
def test_a_minute_in_progress_is_not_summarised(signed, app):
    _clear_of_a_minute_boundary()
    for _ in range(3):
        signed.post(PING, {}, signature="Zm9yZ2Vk")
    assert audit_refusal_summaries() == 0
    assert ApiRefusalWindow.objects.get().hits == 3


@pytest.mark.django_db(transaction=True)
def test_two_summary_runs_at_the_same_moment_write_each_summary_once(app):
    window = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=2)
    ApiRefusalWindow.objects.bulk_create(
        [
            ApiRefusalWindow(app=app, app_key=app.app_key, window=window, status=401, code=-1, reason="r", hits=5),
            ApiRefusalWindow(app=None, app_key="", window=window, status=404, code=3007, reason="unknown", hits=7),
        ]
    )
    results = at_the_same_moment(audit_refusal_summaries)
    assert sum(results) == 2
    summaries = AuditEntry.objects.filter(action="api.refused.summary")
    assert sorted(e.summary["count"] for e in summaries) == [5, 7]
    assert json.dumps([e.summary for e in summaries])  # plain JSON, no secrets: counts and codes only
