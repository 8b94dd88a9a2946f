"""Background work of the console app. Tasks take ids, load rows and call services."""

from __future__ import annotations

from celery import shared_task

from .models import App


@shared_task(acks_late=True)
def generate_receipt_keypair(app_id: int) -> None:
    """Make the app's receipt-signing RSA pair (slow enough to keep off the request)."""
    from .services import receipt_keypair_generate

    app = App.objects.filter(pk=app_id).first()
    if app is not None:
        receipt_keypair_generate(app=app, only_if_missing=True)


@shared_task(acks_late=True)
def warn_expiring_certificates() -> int:
    """Daily: record, audit and e-mail APNs certificate expiry warnings (30/15/7/1/0 days, once each)."""
    from .credentials.services import certificates_expiry_warn

    return len(certificates_expiry_warn())
