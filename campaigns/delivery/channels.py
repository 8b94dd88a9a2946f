"""Which channel carries a message to a device, and the one seam that builds gateways."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from campaigns.gateways import GATEWAYS, Gateway
from campaigns.models import Channel, Device, Platform
from console.models import ApnsCertificate, ApnsTokenKey, App, FcmCredential, VendorChannel

logger = logging.getLogger(__name__)

VENDOR_CHANNELS = {Channel.HUAWEI, Channel.XIAOMI, Channel.OPPO, Channel.VIVO, Channel.HONOR, Channel.MEIZU}


@dataclass(frozen=True)
class Route:
    channel: str
    token: str
    package_name: str = ""


class ChannelPlan:
    """The channel configuration of one app, loaded once per chunk."""

    def __init__(self, app: App):
        self.app = app
        self.vendors: set[tuple[str, str]] = set(
            VendorChannel.objects.filter(app=app, enabled=True).values_list("vendor", "package__package_name")
        )
        self.fcm_enabled = FcmCredential.objects.filter(app=app, enabled=True).exists()

    def route(self, device: Device, *, silent: bool, android_channel: str) -> Route:
        """SPEC: vendor channel when configured and the device is that vendor's, else self-built;
        silent always self-built; iOS through APNs; sandbox apps through the sandbox gateway."""
        if device.platform == Platform.IOS:
            if self.app.sandbox:
                return Route(Channel.SANDBOX, device.apns_token or device.device_id, self.app.ios_bundle_id)
            return Route(Channel.APNS, device.apns_token or device.device_id, self.app.ios_bundle_id)
        package = device.package_name or self.app.android_package
        if silent or android_channel == "selfbuilt":
            return Route(Channel.SELF_BUILT, device.device_id, package)
        if self.app.sandbox:
            return Route(Channel.SANDBOX, device.vendor_token or device.device_id, package)
        vendor = device.vendor
        if vendor in VENDOR_CHANNELS and device.vendor_token and (vendor, package) in self.vendors:
            return Route(vendor, device.vendor_token, package)
        if device.fcm_token and self.fcm_enabled and (vendor in ("", Channel.FCM) or vendor not in VENDOR_CHANNELS):
            return Route(Channel.FCM, device.fcm_token, package)
        return Route(Channel.SELF_BUILT, device.device_id, package)


def get_gateway(app: App, channel: str, package_name: str = "") -> Gateway:
    """The single seam: the credentials' factory when present, else the GATEWAYS registry."""
    try:
        from campaigns.gateways.factory import gateway_for
    except ImportError:
        gateway_for = None
    if gateway_for is not None:
        return gateway_for(app, channel, package_name=package_name)
    try:
        cls = GATEWAYS[channel]
    except KeyError:
        raise LookupError(f"no gateway is registered for channel {channel!r}") from None
    return cls(None)


def ios_send_block_reason(app: App, *, now: datetime | None = None) -> str:
    """Why iOS sends are blocked right now ("" when they are not): an expired APNs certificate."""
    try:
        from console.credentials.services import ios_send_block_reason as credentials_reason
    except ImportError:
        credentials_reason = None
    if credentials_reason is not None:
        return credentials_reason(app) or ""
    if app.sandbox:
        return ""
    now = now or timezone.now()
    if app.apns_auth == "token" and ApnsTokenKey.objects.filter(app=app, is_active=True).exists():
        return ""
    cert = ApnsCertificate.objects.filter(app=app, is_active=True).order_by("-uploaded_at").first()
    if cert is not None and cert.not_after <= now:
        return f"the APNs certificate expired on {cert.not_after:%Y-%m-%d}; upload a new one"
    return ""
