"""Images the tests generate, and a quick way to make a template through the service."""

from __future__ import annotations

import io
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from templates_app import services
from templates_app.images import check_image


def image_bytes(width, height, fmt="PNG", *, noise=False):
    img = Image.new("RGB", (width, height), (200, 40, 40))
    if noise:
        # Random pixels do not compress: a heavy file at the right size.
        img = Image.frombytes("RGB", (width, height), __import__("os").urandom(width * height * 3))
    out = io.BytesIO()
    img.save(out, format=fmt, **({"quality": 100} if fmt == "JPEG" else {}))
    return out.getvalue()


def upload(name, data, content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def pixel_bomb_png(width=60_000, height=60_000):
    """A tiny PNG whose header claims billions of pixels (the IHDR of a 1x1 image, patched)."""
    data = bytearray(image_bytes(1, 1))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def make_template(
    app, *, name="welcome", actor=None, title="Hi #name#", body="Your code is #code#", with_images=False, **extra
):
    fields = {
        "description": "Welcome message",
        "display_type": "notification",
        "display_style": "default",
        "title": title,
        "body": body,
        "click_action": "open_app",
        "url": "",
        "activity": "",
        "icon_url": "",
        "image_url": "",
        "image_profile": "default",
    }
    fields.update(extra)
    if with_images:
        fields["icon"] = check_image(upload("i.png", image_bytes(140, 140)), kind="icon")
        fields["image"] = check_image(upload("l.png", image_bytes(876, 324)), kind="image")
    return services.template_create(app=app, actor=actor, name=name, **fields)
