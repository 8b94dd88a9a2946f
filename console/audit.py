"""The one way to write the audit log."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest

from .models import App, AuditEntry

logger = logging.getLogger(__name__)


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    from .security.clientip import client_address

    return client_address(request) or None


def audit_entry(
    *,
    action: str,
    actor=None,
    actor_label: str = "",
    app: App | None = None,
    target: str = "",
    summary: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """An entry not yet saved (a caller that writes it with other rows saves it, then calls
    `audit_logged`). `summary` must never hold a secret: pass fingerprints."""
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        if request.user.is_authenticated:
            actor = request.user
    if not actor_label:
        actor_label = actor.get_username() if actor is not None else "system"
    return AuditEntry(
        actor=actor,
        actor_label=actor_label[:200],
        app=app,
        app_label=(f"{app.name} ({app.app_key})" if app else "")[:200],
        action=action,
        target=str(target)[:300],
        ip=client_ip(request),
        summary=summary or {},
    )


def audit_logged(entry: AuditEntry) -> None:
    logger.info("audit %s by %s on %s", entry.action, entry.actor_label, entry.app.app_key if entry.app else "-")


def audit_record(**fields: Any) -> AuditEntry:
    """Append one entry (`audit_entry`'s fields). `summary` must never hold a secret: pass fingerprints."""
    entry = audit_entry(**fields)
    entry.save()
    audit_logged(entry)
    return entry
