"""Checks for template icons and large images (SPEC "Templates": images).

Pillow decides what a file is, never its name. Every rule that fails gets its own
message so the marketer knows what to fix.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

# Far above any allowed size (876x324) yet far below what could exhaust memory.
MAX_IMAGE_PIXELS = 4_000_000
ALLOWED_FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg")}


class ImageProfile(models.TextChoices):
    DEFAULT = "default", _("Default (icon 140x140 px, at most 50 KB)")
    XIAOMI = "xiaomi", _("Xiaomi (icon 120x120 px, at most 50 KB)")
    HUAWEI = "huawei", _("Huawei (icon 140x140 px, at most 512 KB)")


@dataclass(frozen=True)
class ImageRule:
    width: int
    height: int
    max_bytes: int


ICON_RULES = {
    ImageProfile.DEFAULT: ImageRule(140, 140, 50 * 1024),
    ImageProfile.XIAOMI: ImageRule(120, 120, 50 * 1024),
    ImageProfile.HUAWEI: ImageRule(140, 140, 512 * 1024),
}
LARGE_IMAGE_RULE = ImageRule(876, 324, 1024 * 1024)


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    extension: str
    content_type: str
    width: int
    height: int


def rule_for(kind: str, profile: str) -> ImageRule:
    if kind == "icon":
        return ICON_RULES.get(profile, ICON_RULES[ImageProfile.DEFAULT])
    return LARGE_IMAGE_RULE


def check_image(upload, *, kind: str, profile: str = ImageProfile.DEFAULT) -> CheckedImage:
    """Validate an uploaded icon ("icon") or large image ("image"); ValidationError lists each broken rule."""
    rule = rule_for(kind, profile)
    upload.seek(0)
    # Read at most one byte past the limit: enough to know it is too heavy.
    data = upload.read(rule.max_bytes + 1)
    too_heavy = len(data) > rule.max_bytes
    size = getattr(upload, "size", None) or len(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(f"{width * height} pixels")
                # A too-heavy file was read only in part: its header still tells format and size.
                if fmt in ALLOWED_FORMATS and not too_heavy:
                    img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(
            _("The image has too many pixels to open safely (a decompression bomb); it was refused."),
            code="decompression_bomb",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError(
            _("The file is not a JPG or PNG image (its content was checked, not its name)."), code="not_image"
        ) from None
    if fmt not in ALLOWED_FORMATS:
        raise ValidationError(
            _("The file is a %(format)s image; only JPG and PNG are accepted.") % {"format": fmt}, code="format"
        )
    errors = []
    if (width, height) != (rule.width, rule.height):
        errors.append(
            ValidationError(
                _("The image is %(w)sx%(h)s px; it must be exactly %(rw)sx%(rh)s px.")
                % {"w": width, "h": height, "rw": rule.width, "rh": rule.height},
                code="dimensions",
            )
        )
    if too_heavy:
        errors.append(
            ValidationError(
                _("The image weighs %(size)s bytes; the limit is %(limit)s bytes (%(human)s).")
                % {"size": size, "limit": rule.max_bytes, "human": filesizeformat(rule.max_bytes)},
                code="too_heavy",
            )
        )
    if errors:
        raise ValidationError(errors)
    extension, content_type = ALLOWED_FORMATS[fmt]
    return CheckedImage(data=data, extension=extension, content_type=content_type, width=width, height=height)


PUBLIC_IMAGE_SALT = "pushdeck.template-image"


def public_image_url(version, kind: str) -> str:
    """The absolute URL push gateways and phones fetch an uploaded icon or large image from
    (SITE_URL + a signed token of the version and kind); "" when the version has no such file."""
    if not getattr(version, kind):
        return ""
    token = signing.dumps([version.pk, kind], salt=PUBLIC_IMAGE_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("template-public-image", kwargs={"token": token})
