"""Every image rule, with files the tests generate."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from templates_app.images import check_image
from tests.templates_app.helpers import image_bytes, pixel_bomb_png, upload


def _codes(error: ValidationError) -> set[str]:
    return {e.code for e in error.error_list}


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg")])
def test_icon_of_the_right_size_is_accepted(fmt, ext):
    checked = check_image(upload(f"icon.{ext}", image_bytes(140, 140, fmt)), kind="icon")
    assert (checked.width, checked.height, checked.extension) == (140, 140, ext)


def test_large_image_of_the_right_size_is_accepted():
    checked = check_image(upload("big.jpg", image_bytes(876, 324, "JPEG")), kind="image")
    assert checked.content_type == "image/jpeg"


def test_extension_comes_from_the_content_not_the_name():
    checked = check_image(upload("icon.png", image_bytes(140, 140, "JPEG")), kind="icon")
    assert checked.extension == "jpg"


def test_wrong_size_names_the_expected_size():
    with pytest.raises(ValidationError) as caught:
        check_image(upload("icon.png", image_bytes(150, 140)), kind="icon")
    assert _codes(caught.value) == {"dimensions"}
    assert "150x140 px; it must be exactly 140x140 px" in caught.value.messages[0]
    with pytest.raises(ValidationError) as caught:
        check_image(upload("big.png", image_bytes(800, 324)), kind="image")
    assert "must be exactly 876x324 px" in caught.value.messages[0]


def test_xiaomi_profile_wants_120_square():
    assert check_image(upload("i.png", image_bytes(120, 120)), kind="icon", profile="xiaomi").width == 120
    with pytest.raises(ValidationError) as caught:
        check_image(upload("i.png", image_bytes(140, 140)), kind="icon", profile="xiaomi")
    assert "exactly 120x120 px" in caught.value.messages[0]


def test_too_heavy_icon_names_the_limit_and_huawei_allows_more():
    heavy = image_bytes(140, 140, noise=True)  # ~59 KB of noise
    assert 50 * 1024 < len(heavy) <= 512 * 1024
    with pytest.raises(ValidationError) as caught:
        check_image(upload("i.png", heavy), kind="icon")
    assert _codes(caught.value) == {"too_heavy"}
    assert f"weighs {len(heavy)} bytes; the limit is 51200 bytes" in caught.value.messages[0]
    assert check_image(upload("i.png", heavy), kind="icon", profile="huawei").width == 140


def test_too_heavy_large_image():
    heavy = image_bytes(876, 324, noise=True)  # ~850 KB of noise in PNG
    heavy += b"\0" * (1024 * 1024 + 1 - len(heavy))  # trailing bytes after IEND: still a valid PNG
    with pytest.raises(ValidationError) as caught:
        check_image(upload("big.png", heavy), kind="image")
    assert _codes(caught.value) == {"too_heavy"}
    assert "weighs 1048577 bytes; the limit is 1048576 bytes" in caught.value.messages[0]


def test_wrong_size_and_too_heavy_are_both_reported():
    with pytest.raises(ValidationError) as caught:
        check_image(upload("i.png", image_bytes(150, 150, noise=True)), kind="icon")
    assert _codes(caught.value) == {"dimensions", "too_heavy"}


def test_a_text_file_named_png_is_refused():
    with pytest.raises(ValidationError) as caught:
        check_image(upload("icon.png", b"<html><script>alert(1)</script></html>"), kind="icon")
    assert _codes(caught.value) == {"not_image"}
    assert "not a JPG or PNG image" in caught.value.messages[0]


def test_other_image_formats_are_refused():
    with pytest.raises(ValidationError) as caught:
        check_image(upload("icon.png", image_bytes(140, 140, "GIF")), kind="icon")
    assert _codes(caught.value) == {"format"}
    assert "GIF" in caught.value.messages[0]


def test_truncated_png_is_refused():
    data = image_bytes(140, 140, noise=True)[:4000]
    with pytest.raises(ValidationError) as caught:
        check_image(upload("icon.png", data), kind="icon", profile="huawei")
    assert _codes(caught.value) == {"not_image"}


@pytest.mark.parametrize("size", [(3000, 3000), (60_000, 60_000)])
def test_a_pixel_bomb_is_refused(size):
    # 9 million pixels is over our own limit; 3.6 billion trips Pillow's DecompressionBombError too.
    bomb = pixel_bomb_png(*size)
    assert len(bomb) < 200
    with pytest.raises(ValidationError) as caught:
        check_image(upload("bomb.png", bomb), kind="image")
    assert _codes(caught.value) == {"decompression_bomb"}
    assert "decompression bomb" in caught.value.messages[0]
