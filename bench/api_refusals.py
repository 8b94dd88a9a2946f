"""Audit flood: forged calls against a public AppKey, and what they leave in the audit log.

Usage (against a PostgreSQL database with the migrations applied, e.g. the test DB):

    DEBUG=true DATABASE_URL=postgres://postgres@127.0.0.1:5432/test_sends \
        CELERY_BROKER_URL=redis://127.0.0.1:6379/15 .venv/bin/python bench/api_refusals.py [--calls 10000]

Sends the forged calls through the real signed-API view (RequestFactory, no network), then
runs the minute summary as beat would once the minutes are over. Prints calls/s, the audit
rows written, the refusal counter and the summaries; removes what it created.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

from django.test import RequestFactory  # noqa: E402
from django.utils import timezone  # noqa: E402

from console.keys import generate_rsa_pair  # noqa: E402
from console.metrics import counter_values  # noqa: E402
from console.models import App, AuditEntry, KeyConfig  # noqa: E402
from console.security.api import API_REFUSALS, audit_refusal_summaries  # noqa: E402
from console.security.views import api_ping  # noqa: E402

PING = "/api/v1/ping"
KEY = '{"code":"-1","kind":"server","status":"401"}'


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args()
    app = App.objects.create(name=f"bench refusals {time.time():.0f}")
    _private, public = generate_rsa_pair()
    KeyConfig.objects.update_or_create(app=app, defaults={"api_enabled": True, "customer_public_key": public})
    factory = RequestFactory()
    first_entry = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    counted = counter_values(API_REFUSALS).get(KEY, 0)
    start = time.perf_counter()
    statuses: dict[int, int] = {}
    for i in range(args.calls):
        timestamp, nonce = str(int(time.time() * 1000)), f"forged-{i}"
        request = factory.post(
            PING,
            data=b"{}",
            content_type="application/json",
            HTTP_X_PUSHDECK_APP_KEY=app.app_key,
            HTTP_X_PUSHDECK_TIMESTAMP=timestamp,
            HTTP_X_PUSHDECK_NONCE=nonce,
            HTTP_X_PUSHDECK_SIGNATURE="Zm9yZ2Vk",
        )
        status = api_ping(request).status_code
        statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.perf_counter() - start
    during = AuditEntry.objects.filter(pk__gt=first_entry, app=app).count()
    summaries = audit_refusal_summaries(now=timezone.now() + timedelta(minutes=1))
    after = AuditEntry.objects.filter(pk__gt=first_entry, app=app)
    print(f"forged calls: {args.calls:,} in {elapsed:.1f} s ({args.calls / elapsed:,.0f} calls/s), answers {statuses}")
    print(f"audit rows written by the calls: {during}")
    print(f"refusal counter (pushdeck_api_refusals_total, code -1): +{counter_values(API_REFUSALS)[KEY] - counted:,}")
    print(f"summaries after the minute: {summaries}; audit rows in all: {after.count()}")
    for entry in after.filter(action="api.refused.summary"):
        print(f"  {entry.target}: {entry.summary['count']:,} refusals, resultCode {entry.summary['resultCode']}")
    app.delete()  # the audit rows stay: the log is append-only


if __name__ == "__main__":
    main()
