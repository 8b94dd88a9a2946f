"""The one #placeholder# renderer: edge cases, missing keys, overflows and payload limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaigns.codes import ApiCode, PushError
from campaigns.gateways.base import OutgoingPush
from templates_app.rendering import (
    ANDROID_PAYLOAD_MAX_BYTES,
    APNS_PAYLOAD_MAX_BYTES,
    check_payload_size,
    payload_sizes,
    placeholders,
    raise_for_payload_size,
    render_message,
    substitute,
)


def test_adjacent_placeholders_are_both_found_and_filled():
    assert placeholders("#a##b#") == ["a", "b"]
    assert render_message(title="#a##b#", body="x", values={"a": "1", "b": "2"}).title == "12"


def test_nested_looking_placeholders_take_the_first_closing_hash():
    # "#a#b#" is #a# followed by a literal "b#"; "#outer#inner##" has #outer# then "inner##".
    assert placeholders("#a#b#") == ["a"]
    assert substitute("#a#b#", {"a": "X", "b": "Y"}) == "Xb#"
    assert placeholders("#outer#inner##") == ["outer"]
    assert substitute("##name##", {"name": "Ann"}) == "#Ann#"


def test_lone_and_double_hash_are_literal_text():
    assert placeholders("Call # now ## or #1 more") == []
    rendered = render_message(title="# and ##", body="50% # off ##", values={})
    assert (rendered.title, rendered.body) == ("# and ##", "50% # off ##")


def test_names_allow_only_letters_digits_underscore():
    assert placeholders("#first name# #first_name# #é# #x-y#") == ["first_name"]


def test_unicode_and_emoji_values_are_kept_exactly():
    rendered = render_message(
        title="Hi #name#", body="#gift# for #city#", values={"name": "Zoë 李", "gift": "🎁🎉", "city": "Zürich"}
    )
    assert rendered.title == "Hi Zoë 李"
    assert rendered.body == "🎁🎉 for Zürich"


def test_a_value_containing_a_placeholder_is_not_expanded_again():
    rendered = render_message(title="#a#", body="#b#", values={"a": "#b#", "b": "#a# done"})
    assert rendered.title == "#b#"
    assert rendered.body == "#a# done"


def test_every_missing_key_is_listed_at_once():
    with pytest.raises(PushError) as caught:
        render_message(title="#a# #b#", body="#c# #a#", url="https://x.test/#d#", values={"b": "1", "c": None})
    error = caught.value
    assert error.code == ApiCode.TEMPLATEKV_NOT_ENOUGH
    assert error.details["missing"] == ["a", "c", "d"]
    assert "a, c, d" in error.message


def test_extra_keys_are_reported_and_refused_when_strict():
    rendered = render_message(title="#a#", body="b", values={"a": "1", "zz": "2"})
    assert rendered.extra_keys == ("zz",)
    with pytest.raises(PushError) as caught:
        render_message(title="#a#", body="b", values={"a": "1", "zz": "2"}, strict_extra=True)
    assert caught.value.code == ApiCode.INVALID_PARAM
    assert caught.value.details["extra"] == ("zz",)


def test_overflow_after_substitution_names_field_and_limit():
    # The template fits; the value makes the body 205 characters.
    with pytest.raises(PushError) as caught:
        render_message(title="ok", body="Dear #name#", values={"name": "x" * 200})
    error = caught.value
    assert error.code == ApiCode.SINGLE_PUSH_CONTENT_TOO_LONG
    assert error.field == "body"
    assert error.details["overflows"] == [{"field": "body", "limit": 200, "unit": "characters", "actual": 205}]
    assert "body is 205 characters after substitution; the limit is 200" in error.message


def test_platform_title_limits_after_substitution():
    with pytest.raises(PushError) as caught:
        render_message(title="#t#", body="b", values={"t": "é" * 51}, platform="android")
    assert caught.value.details["overflows"][0] == {"field": "title", "limit": 50, "unit": "characters", "actual": 51}
    with pytest.raises(PushError) as caught:
        render_message(title="#t#", body="b", values={"t": "😀" * 51}, platform="ios")
    assert caught.value.details["overflows"][0] == {"field": "title", "limit": 200, "unit": "bytes", "actual": 204}
    # 51 emoji are 51 characters: fine for the common 200-character title limit without a platform.
    assert render_message(title="#t#", body="b", values={"t": "😀" * 51}).title == "😀" * 51


def test_url_overflow_is_named():
    with pytest.raises(PushError) as caught:
        render_message(title="t", body="b", url="https://x.test/#p#", values={"p": "a" * 1000})
    assert caught.value.field == "url"


def _push(**kw):
    base = dict(
        delivery_id=1,
        push_id="00000000-0000-4000-8000-000000000001",
        token="tok",
        platform="ios",
        title="t",
        body="b",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    base.update(kw)
    return OutgoingPush(**base)


def test_payload_size_within_limits():
    push = _push()
    assert check_payload_size(push) == []
    sizes = payload_sizes(push)
    assert 0 < sizes["apns"] < APNS_PAYLOAD_MAX_BYTES and 0 < sizes["fcm"] < ANDROID_PAYLOAD_MAX_BYTES


def test_payload_overflow_names_the_payload_and_its_limit():
    # Between the two limits: the FCM message overflows 4000 bytes, the APNs payload does not reach 4096.
    push = _push(extras={"data": "x" * 3900})
    sizes = payload_sizes(push)
    assert sizes["apns"] <= APNS_PAYLOAD_MAX_BYTES and sizes["fcm"] > ANDROID_PAYLOAD_MAX_BYTES
    problems = {o.field: o for o in check_payload_size(push)}
    assert set(problems) == {"FCM/vendor payload"}
    assert problems["FCM/vendor payload"].limit == 4000
    assert problems["FCM/vendor payload"].actual == sizes["fcm"]
    with pytest.raises(PushError) as caught:
        raise_for_payload_size(_push(extras={"data": "界" * 1400}))  # 4200 bytes in UTF-8
    assert caught.value.code == ApiCode.MSG_PAYLOAD_TOO_LONG
    fields = {o["field"]: o["limit"] for o in caught.value.details["overflows"]}
    assert fields == {"APNs payload": 4096, "FCM/vendor payload": 4000}


def test_substitute_leaves_names_without_a_value_untouched():
    assert substitute("#a# #b#", {"a": None, "b": 0}) == "#a# 0"
