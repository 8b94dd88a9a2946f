"""The editor's live preview: placeholders, notification mocks and the exact payloads per sample row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.gateways.base import OutgoingPush
from campaigns.payloads import preview as payload_preview
from console.models import App

from . import rendering
from .forms import SampleRow

PREVIEW_TTL = timedelta(seconds=180)  # the SPEC's default valid period
STYLE_VISIBLE_CHARS = {"default": 100, "big_text": 256}


@dataclass
class RowPreview:
    label: str
    title: str
    body: str
    url: str
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    overflows: list[str] = field(default_factory=list)
    apns_json: str = ""
    fcm_json: str = ""
    sizes: dict[str, int] = field(default_factory=dict)
    hints: list[str] = field(default_factory=list)


def _push(*, app: App, platform: str, data: dict, title: str, body: str, url: str) -> OutgoingPush:
    return OutgoingPush(
        delivery_id=0,
        push_id="00000000-0000-4000-8000-000000000000",
        token="DEVICE_TOKEN",
        platform=platform,
        title=title,
        body=body,
        expires_at=timezone.now() + PREVIEW_TTL,
        silent=data.get("display_type") == "silent",
        display_style=data.get("display_style") or "default",
        click_action=data.get("click_action") or "open_app",
        url=url,
        activity=data.get("activity") or "",
        icon_url=data.get("icon_url") or "",
        image_url=data.get("image_url") or "",
        package_name=app.android_package,
        topic=app.ios_bundle_id,
    )


def overflow_text(overflow: rendering.Overflow, platform: str = "") -> str:
    names = {
        "title": _("title"),
        "body": _("body"),
        "url": _("URL"),
        "APNs payload": _("APNs payload"),
        "FCM/vendor payload": _("FCM/vendor payload"),
    }
    name = names.get(overflow.field, overflow.field)
    params = {
        "field": f"{platform} {name}" if platform else name,
        "actual": overflow.actual,
        "limit": overflow.limit,
    }
    if overflow.unit == "bytes":
        return _("%(field)s is %(actual)s bytes after substitution; the limit is %(limit)s bytes.") % params
    return _("%(field)s is %(actual)s characters after substitution; the limit is %(limit)s characters.") % params


def preview_row(*, app: App, data: dict, row: SampleRow) -> RowPreview:
    """Render one sample row with the product's renderer and payload builders."""
    title, body, url = data.get("title") or "", data.get("body") or "", data.get("url") or ""
    names = rendering.placeholders(title, body, url)
    values = {k: v for k, v in row.values.items() if v is not None}
    result = RowPreview(
        label=row.label,
        title=rendering.substitute(title, values),
        body=rendering.substitute(body, values),
        url=rendering.substitute(url, values),
        missing=rendering.missing_keys(names, values),
        extra=sorted(set(values) - set(names)),
    )
    overflows = [
        overflow_text(o) for o in rendering.check_lengths(title=result.title, body=result.body, url=result.url)
    ]
    # The platform title limits (Android 50 characters, iOS 200 bytes) on top of the common ones.
    for o in rendering.check_lengths(title=result.title, body="", platform="android"):
        if o.limit == rendering.ANDROID_TITLE_MAX_CHARS and o.unit == "characters":
            overflows.append(overflow_text(o, "Android"))
    for o in rendering.check_lengths(title=result.title, body="", platform="ios"):
        if o.unit == "bytes":
            overflows.append(overflow_text(o, "iOS"))
    ios = _push(app=app, platform="ios", data=data, title=result.title, body=result.body, url=result.url)
    android = _push(app=app, platform="android", data=data, title=result.title, body=result.body, url=result.url)
    result.apns_json = payload_preview(ios)["ios"]
    result.fcm_json = payload_preview(android)["android"]
    result.sizes = {"apns": rendering.payload_sizes(ios)["apns"], "fcm": rendering.payload_sizes(android)["fcm"]}
    overflows += [overflow_text(o) for o in rendering.check_payload_size(ios) if o.field.startswith("APNs")]
    overflows += [overflow_text(o) for o in rendering.check_payload_size(android) if o.field.startswith("FCM")]
    result.overflows = overflows
    # SPEC: the default style shows about 100 characters, big text about 256; longer text may be cut.
    shown = STYLE_VISIBLE_CHARS.get(data.get("display_style") or "default")
    if shown and len(result.body) > shown:
        result.hints.append(
            _("This display style shows about %(shown)s characters; the body has %(n)s and may be cut on the device.")
            % {"shown": shown, "n": len(result.body)}
        )
    return result


def template_preview(*, app: App, data: dict, typed: dict[str, str], rows: list[SampleRow]) -> dict:
    """Context for `_preview.html`: placeholders found and one preview per sample row."""
    title, body, url = data.get("title") or "", data.get("body") or "", data.get("url") or ""
    names = rendering.placeholders(title, body, url)
    samples = rows or [SampleRow(label="", values=typed)]
    return {
        "placeholders": names,
        "rows": [preview_row(app=app, data=data, row=row) for row in samples],
        "from_csv": bool(rows),
        "limits": {"apns": rendering.APNS_PAYLOAD_MAX_BYTES, "fcm": rendering.ANDROID_PAYLOAD_MAX_BYTES},
    }
