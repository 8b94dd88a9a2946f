"""Build the gateway for an app and channel from its active credentials; one per process."""

from __future__ import annotations

import os
import threading
from typing import Any

from django.utils import timezone

from console.models import ApnsCertificate, ApnsTokenKey, App, FcmCredential, Vendor, VendorChannel

from ..codes import APNS_REASON_CODES
from . import GATEWAYS
from .base import Gateway, GatewayError

_lock = threading.Lock()
# (app, channel, package) -> (credential version, gateway): reused so connections stay open
_cache: dict[tuple, tuple[tuple, Gateway]] = {}
_cache_pid = os.getpid()


def _config_error(reason: str, code: int | None = None) -> GatewayError:
    return GatewayError(None, True, reason, code=code, config_error=True)


def _apns_credential(app: App) -> ApnsCertificate | ApnsTokenKey:
    if app.apns_auth == "token":
        key = ApnsTokenKey.objects.filter(app=app, is_active=True).first()
        if key is None:
            raise _config_error("APNs token key not configured")
        return key
    cert = ApnsCertificate.objects.filter(app=app, is_active=True).first()
    if cert is None:
        raise _config_error("APNs certificate not configured")
    if cert.is_expired(timezone.now()):
        raise _config_error("APNs certificate expired", APNS_REASON_CODES["BadCertificate"])
    return cert


def _vendor_channel(app: App, vendor: str, package_name: str) -> VendorChannel:
    channels = VendorChannel.objects.filter(app=app, vendor=vendor).select_related("package")
    channels = (
        channels.filter(package__package_name=package_name) if package_name else channels.filter(package__is_main=True)
    )
    channel = channels.first()
    if channel is None:
        raise _config_error(f"{vendor} channel not configured for package {package_name or 'main'}")
    if not channel.enabled:
        raise _config_error(f"{vendor} channel is switched off")
    return channel


def _resolve(app: App, channel: str, package_name: str) -> tuple[tuple, tuple, Any, dict]:
    """(slot, version, credential, constructor kwargs)."""
    if app.sandbox or channel == "sandbox":
        return (app.pk, "sandbox", ""), ("sandbox",), None, {}
    if channel == "apns":
        credential = _apns_credential(app)
        version = (type(credential).__name__, credential.pk, credential.fingerprint)
        return (app.pk, "apns", ""), version, credential, {}
    if channel == "fcm":
        credential = FcmCredential.objects.filter(app=app).first()
        if credential is None or not credential.service_account:
            raise _config_error("FCM not configured")
        if not credential.enabled:
            raise _config_error("FCM is switched off")
        version = ("fcm", credential.pk, credential.fingerprint, credential.updated_at)
        return (app.pk, "fcm", ""), version, credential, {}
    if channel in Vendor.values:
        credential = _vendor_channel(app, channel, package_name)
        version = (channel, credential.pk, credential.fingerprint, credential.updated_at)
        package = credential.package.package_name
        return (app.pk, channel, package), version, credential, {"package_name": package}
    raise _config_error(f"unknown channel {channel!r}")


def gateway_for(app: App, channel: str, *, package_name: str = "") -> Gateway:
    """The gateway for `channel` ("apns", "fcm", "huawei", ...) of `app`; raises GatewayError(config_error=True)
    when the channel is not configured, switched off or its certificate expired. Sandbox apps get the sandbox."""
    global _cache_pid
    slot, version, credential, kwargs = _resolve(app, channel, package_name)
    with _lock:
        if _cache_pid != os.getpid():
            # a forked worker: the parent's connections belong to the parent's loop
            _cache.clear()
            _cache_pid = os.getpid()
        cached = _cache.get(slot)
        if cached is not None and cached[0] == version:
            return cached[1]
        code = "sandbox" if slot[1] == "sandbox" else channel
        gateway = GATEWAYS[code](credential, **kwargs)
        _cache[slot] = (version, gateway)
    if cached is not None:
        cached[1].close()  # the credential changed: drop the old connections
    return gateway


def close_all() -> None:
    """Close every cached gateway (tests, worker shutdown)."""
    with _lock:
        gateways = [gateway for _, gateway in _cache.values()]
        _cache.clear()
    for gateway in gateways:
        gateway.close()
