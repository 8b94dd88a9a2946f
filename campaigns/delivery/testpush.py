"""Issue 4 "Test push": one notification to a typed token through one of the app's credentials."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.gateways import GatewayError, GatewayResult, OutgoingPush
from campaigns.gateways.factory import gateway_for
from console.audit import audit_record
from console.crypto import mask
from console.models import App

logger = logging.getLogger(__name__)

# The channels a test push can go through (the self-built channel has no token to type).
TEST_PUSH_CHANNELS = ("apns", "fcm", "huawei", "xiaomi", "oppo", "vivo", "honor", "meizu")
TEST_PUSH_TTL = dt.timedelta(hours=1)


def test_push_send(
    *,
    app: App,
    channel: str,
    token: str,
    package_name: str = "",
    actor,
    request: HttpRequest | None = None,
) -> GatewayResult:
    """Send one test notification through the app's credential for `channel`; return the gateway's answer.

    Nothing about devices changes (an invalid token is only reported); the attempt is audited
    with the token masked.
    """
    push = OutgoingPush(
        delivery_id=0,
        push_id=str(uuid.uuid4()),
        token=token,
        platform="ios" if channel == "apns" else "android",
        title=gettext("Pushdeck test"),
        body=gettext("This is a test notification from the push configuration page."),
        expires_at=timezone.now() + TEST_PUSH_TTL,
        package_name=package_name or app.android_package,
        topic=app.ios_bundle_id,
    )
    try:
        result = gateway_for(app, channel, package_name=package_name).send(push)
    except GatewayError as exc:
        # Nothing reached the service, or the credential is missing/expired: show exactly that.
        result = GatewayResult.from_error(exc)
    logger.info("app %s: test push through %s accepted=%s", app.app_key, channel, result.accepted)
    with transaction.atomic():
        audit_record(
            action="push.test",
            actor=actor,
            app=app,
            target=channel,
            summary={
                "channel": channel,
                "package_name": package_name,
                "token": mask(token),
                "push_id": push.push_id,
                "accepted": result.accepted,
                "code": result.code,
                "reason": result.reason[:200],
                "http_status": result.http_status,
            },
            request=request,
        )
    return result


test_push_send.__test__ = False  # a service, not a pytest test
