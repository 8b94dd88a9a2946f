"""What goes on the wire for each platform: used by previews and by the gateways alike."""

from __future__ import annotations

import json
from datetime import datetime

from django.utils import timezone

from .gateways.base import OutgoingPush

# Extension keys with a meaning of their own (SPEC "Sends").
APS_KEYS = {"sound", "badge", "mutable-content"}


def _ttl_seconds(expires_at: datetime, now: datetime | None = None) -> int:
    return max(0, int((expires_at - (now or timezone.now())).total_seconds()))


def apns_payload(push: OutgoingPush) -> dict:
    """The JSON body of an APNs request."""
    aps: dict = {}
    if push.silent:
        aps["content-available"] = 1
    else:
        aps["alert"] = {"title": push.title, "body": push.body}
        aps["sound"] = push.extras.get("sound", "default")
    if "badge" in push.extras:
        try:
            aps["badge"] = int(push.extras["badge"])
        except ValueError:
            pass
    if push.extras.get("mutable-content") == "1" or push.image_url:
        aps["mutable-content"] = 1
    if push.click_action == "open_url":
        aps["category"] = "OPEN_URL"
    payload: dict = {"aps": aps}
    if push.url:
        payload["url"] = push.url
    if push.image_url:
        payload["image"] = push.image_url
    for key, value in push.extras.items():
        if key not in APS_KEYS:
            payload[key] = value
    return payload


def apns_headers(push: OutgoingPush) -> dict[str, str]:
    return {
        "apns-id": push.push_id,
        "apns-collapse-id": push.push_id,
        "apns-topic": push.topic,
        "apns-push-type": "background" if push.silent else "alert",
        "apns-priority": "5" if push.silent else "10",
        "apns-expiration": str(int(push.expires_at.timestamp())),
    }


def android_data(push: OutgoingPush) -> dict[str, str]:
    """The string-only data map an Android app receives (FCM data / vendor payload)."""
    data = {str(k): str(v) for k, v in push.extras.items()}
    data["pushId"] = push.push_id
    if push.url:
        data["url"] = push.url
    if push.activity:
        data["activity"] = push.activity
    if push.silent:
        data.update({"title": push.title, "body": push.body})
    return data


def fcm_message(push: OutgoingPush, now: datetime | None = None) -> dict:
    """The body of an FCM HTTP v1 messages:send request."""
    ttl = _ttl_seconds(push.expires_at, now)
    android: dict = {"ttl": f"{ttl}s", "priority": "HIGH", "collapse_key": push.push_id[:64]}
    message: dict = {"token": push.token, "data": android_data(push), "android": android}
    if not push.silent:
        message["notification"] = {"title": push.title, "body": push.body}
        notification: dict = {}
        if push.click_action == "open_url":
            notification["click_action"] = "OPEN_URL"
        if push.image_url:
            message["notification"]["image"] = push.image_url
        if push.icon_url:
            notification["icon"] = push.icon_url
        if notification:
            android["notification"] = notification
    return {"message": message}


def preview(push: OutgoingPush) -> dict[str, str]:
    """Pretty JSON of both payloads, for the template editor and the send forms."""
    return {
        "ios": json.dumps(apns_payload(push), ensure_ascii=False, indent=2),
        "android": json.dumps(fcm_message(push)["message"], ensure_ascii=False, indent=2),
    }
