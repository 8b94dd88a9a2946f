"""Guards of the signed APIs: source address allowlist, per-app rate limit, refusal audit.

Refusals are counted in the metrics (`pushdeck_api_refusals_total`). Those before
authentication (anyone can cause them with a public AppKey) are audited once per app,
answer and minute; the beat job `audit_refusal_summaries` writes the rest of each closed
minute as one `api.refused.summary` entry. Refusals of authenticated calls are audited
one by one (they are rate limited).
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from console.apicodes import ApiCode, PushError
from console.audit import audit_record
from console.metrics import counter_add
from console.models import App

from .clientip import client_address
from .counters import redis_client
from .models import ApiRateLimit, ApiRateWindow, ApiRefusalWindow

API_REFUSALS = "api_refusals"

logger = logging.getLogger(__name__)


class RateLimited(PushError):
    """Too many calls this minute: HTTP 429 with INVALID_PARAM and a detail."""

    def __init__(self, limit: int, retry_after: int):
        super().__init__(ApiCode.INVALID_PARAM, f"rate limit of {limit} requests per minute exceeded")
        self.http_status = 429
        self.retry_after = retry_after


class AddressRefused(PushError):
    def __init__(self, address: str):
        super().__init__(ApiCode.INVALID_PARAM, f"source address {address} is not allowed for this app")
        self.http_status = 403


def allowlist_entries(text: str) -> list[str]:
    """The entries of an allowlist: comma- or newline-separated, blanks dropped."""
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def parse_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma- or newline-separated addresses/CIDRs; raises ValueError on a bad entry."""
    return [ipaddress.ip_network(part, strict=False) for part in allowlist_entries(text)]


def validate_allowlist(text: str) -> None:
    """Form validator for KeyConfig.ip_allowlist: every entry must be an address or CIDR."""
    for part in allowlist_entries(text):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValidationError(
                _("“%(entry)s” is not an IP address or network (such as 203.0.113.0/24)."), params={"entry": part[:64]}
            ) from None


def address_allowed(address: str, allowlist: str) -> bool:
    """An empty allowlist allows every address."""
    if not allowlist.strip():
        return True
    try:
        ip = ipaddress.ip_address(address)
        networks = parse_networks(allowlist)
    except ValueError:
        # A saved list that no longer parses refuses everything rather than allowing everything.
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def check_source(request: HttpRequest, allowlist: str) -> None:
    address = client_address(request)
    if not address_allowed(address, allowlist):
        raise AddressRefused(address)


def own_limit(app: App) -> int | None:
    """The app's own calls-per-minute limit (0: unlimited), or None for the default."""
    if "api_rate_limit" in app._state.fields_cache:  # loaded with the app by the signed API
        own = app._state.fields_cache["api_rate_limit"]
        return own.per_minute if own is not None else None
    return ApiRateLimit.objects.filter(app=app).values_list("per_minute", flat=True).first()


def limit_for(app: App) -> int:
    own = own_limit(app)
    return own if own is not None else settings.PUSHDECK_API_RATE_LIMIT_PER_MINUTE


def rate_hit(*, app: App, now: datetime | None = None) -> int:
    """Count one request in the app's current minute and return the count.

    In Redis with a Redis broker (no row lock every call of an app waits on); else one upsert.
    """
    now = now or timezone.now()
    if redis_client() is not None:
        window = int(now.timestamp() // 60)
        key = f"pushdeck:rate:server:{app.pk}:{window}"
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 65)
        return int(pipe.execute()[0])
    window = now.replace(second=0, microsecond=0)
    q = connection.ops.quote_name  # "window" is a reserved word in SQL
    table = q(ApiRateWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (app_id, {q('window')}, hits) VALUES (%s, %s, 1) "  # noqa: S608 - our table
            f"ON CONFLICT (app_id, {q('window')}) DO UPDATE SET hits = {table}.hits + 1 RETURNING hits",
            [app.pk, window],
        )
        return cursor.fetchone()[0]


def check_rate(*, app: App, now: datetime | None = None) -> None:
    limit = limit_for(app)
    if limit <= 0:
        return
    now = now or timezone.now()
    if rate_hit(app=app, now=now) > limit:
        raise RateLimited(limit, retry_after=60 - now.second)


def purge_rate_windows(*, before: datetime) -> int:
    deleted, _ = ApiRateWindow.objects.filter(window__lt=before).delete()
    return deleted


def _refusal_hit(*, app: App | None, status: int, code: int, reason: str, now: datetime) -> int:
    """Count one refusal in its (app, answer, minute) window; the count so far (one atomic upsert)."""
    window = now.replace(second=0, microsecond=0)
    q = connection.ops.quote_name
    table = q(ApiRefusalWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (app_id, app_key, {q('window')}, status, code, reason, hits) "  # noqa: S608
            f"VALUES (%s, %s, %s, %s, %s, %s, 1) "
            f"ON CONFLICT (app_key, {q('window')}, status, code) DO UPDATE SET hits = {table}.hits + 1 "
            "RETURNING hits",
            [app.pk if app else None, app.app_key if app else "", window, status, code, reason[:200]],
        )
        return cursor.fetchone()[0]


def audit_refusal(request: HttpRequest, error: PushError, *, app: App | None, kind: str) -> None:
    """Count and audit a refused API call: the code and reason, never a header value or body."""
    status = getattr(error, "http_status", None) or _status_of(error.code)
    counter_add(API_REFUSALS, {"kind": kind, "code": str(int(error.code)), "status": str(status)})
    try:
        authenticated = getattr(request, "api_authenticated", False)
        if not authenticated:
            hits = _refusal_hit(app=app, status=status, code=int(error.code), reason=error.message, now=timezone.now())
            if hits > 1:
                return  # counted; summarised when the minute is over
        audit_record(
            action="api.refused",
            actor_label=f"api:{app.app_key}" if app else "api:unknown",
            app=app,
            target=request.path[:300],
            request=request,
            summary={
                "kind": kind,
                "resultCode": int(error.code),
                "reason": error.message[:200],
                "status": getattr(error, "http_status", None),
            },
        )
    except Exception:  # noqa: BLE001 - a failing audit write must not turn a refusal into a 500
        logger.exception("could not audit an API refusal")


def _status_of(code) -> int:
    from console.apisign import HTTP_STATUS

    return HTTP_STATUS.get(code, 400)


def audit_refusal_summaries(*, now: datetime | None = None) -> int:
    """Turn every closed minute's refusal window into one summary entry (when more than the first
    refusal happened) and delete it. DELETE ... RETURNING claims each window once, so two runs at
    the same moment never write a summary twice. Returns the number of summaries written."""
    now = now or timezone.now()
    current = now.replace(second=0, microsecond=0)
    q = connection.ops.quote_name
    table = q(ApiRefusalWindow._meta.db_table)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE {q('window')} < %s "  # noqa: S608 - our table
                f"RETURNING app_id, app_key, {q('window')}, status, code, reason, hits",
                [current],
            )
            rows = cursor.fetchall()
        apps = App.objects.in_bulk({row[0] for row in rows if row[0]})
        written = 0
        for app_id, app_key, window, status, code, reason, hits in sorted(rows, key=lambda r: (r[2], r[1], r[3], r[4])):
            if hits <= 1:
                continue  # the one refusal already has its own entry
            app = apps.get(app_id)
            if isinstance(window, str):  # SQLite returns text
                window = datetime.fromisoformat(window)
            audit_record(
                action="api.refused.summary",
                actor_label=f"api:{app_key}" if app_key else "api:unknown",
                app=app,
                target=f"{window:%Y-%m-%dT%H:%M}Z",
                summary={
                    "minute": window.isoformat(),
                    "resultCode": code,
                    "status": status,
                    "count": hits,
                    "reason": reason,
                },
            )
            written += 1
    return written
