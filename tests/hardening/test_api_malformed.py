"""Malformed headers, signatures and JSON numbers get the SPEC refusal code, never a 500.

The explicit cases first; then Hypothesis over the signed APIs' headers and JSON fields and
over the multiple-push line parser: no input gives a 5xx, and a refused call changes no row.
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import Device, Message, PushTask
from campaigns.sends.csvingest import Template, check_line
from console.models import ApiNonce
from templates_app.models import Template as PushTemplate
from tests.apiclient import SignedClient, enable_server_api
from tests.campaigns.send_fixtures import make_template

PING = "/api/v1/ping"
FAST = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def server(app, client):
    return SignedClient(client, app, private_pem=enable_server_api(app))


@pytest.fixture
def device_client(app, client):
    return SignedClient(client, app, kind="client")


def _rows() -> tuple[int, ...]:
    return (
        PushTask.objects.count(),
        Message.objects.count(),
        PushTemplate.objects.count(),
        Device.objects.count(),
        ApiNonce.objects.count(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("timestamp", ["²" * 13, "１７００００００００００", "٣" * 13, "9" * 400, "-1", " 1"])
def test_a_timestamp_of_other_digits_is_a_signature_mismatch(server, timestamp):
    response = server.post(PING, {}, timestamp=timestamp)
    assert response.status_code == 401
    assert response.json()["resultCode"] == -1


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["server", "client"])
def test_a_non_ascii_signature_is_a_signature_mismatch(app, client, kind):
    signer = SignedClient(client, app, private_pem=enable_server_api(app), kind=kind)
    response = signer.post(PING if kind == "server" else "/api/v1/client/device/report", {}, signature="sïgnature")
    assert response.status_code == 401
    assert response.json()["resultCode"] == -1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw",
    [
        b'{"deliveryType": Infinity}',
        b'{"deliveryType": -Infinity}',
        b'{"deliveryType": NaN}',
        b'{"expiredSeconds": 1e999}',
        b'{"expiredSeconds": 123456789012345678901234567890}',
        b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ],
)
def test_json_numbers_out_of_range_are_invalid_params(server, raw):
    before = _rows()
    response = server.post("/api/v1/push/simple", raw=raw)
    assert response.status_code == 400
    body = response.json()
    assert body["resultCode"] == 3028 and body["detail"].startswith("the body is not valid JSON")
    assert _rows()[:4] == before[:4]


# Hypothesis: headers ---------------------------------------------------------------------------

# What a WSGI server can hand over: header values are latin-1 text.
header_text = st.text(alphabet=st.characters(max_codepoint=255, blacklist_categories=("Cc",)), max_size=80)


@pytest.mark.django_db
@FAST
@given(
    app_key=st.one_of(st.none(), header_text),
    timestamp=st.one_of(st.none(), header_text, st.integers(-(10**30), 10**30).map(str)),
    nonce=st.one_of(st.none(), header_text),
    signature=st.one_of(st.none(), header_text),
    path=st.sampled_from([PING, "/api/v1/push/simple", "/api/v1/templates/list", "/api/v1/client/device/report"]),
)
def test_no_header_gives_a_5xx_or_changes_a_row(server, app, app_key, timestamp, nonce, signature, path):
    kind = "client" if "/client/" in path else "server"
    signer = SignedClient(server.client, app, private_pem=server.private_pem, kind=kind)
    body = b"{}"
    headers = signer.headers("POST", path, body)
    for name, value in (
        ("HTTP_X_PUSHDECK_APP_KEY", app_key),
        ("HTTP_X_PUSHDECK_TIMESTAMP", timestamp),
        ("HTTP_X_PUSHDECK_NONCE", nonce),
        ("HTTP_X_PUSHDECK_SIGNATURE", signature),
    ):
        if value is not None:
            headers[name] = value
    before = _rows()
    response = signer.client.post(path, data=body, content_type="application/json", **headers)
    assert response.status_code < 500, response.content
    result = response.json()["resultCode"]
    if result != 100:
        # A refused call changes nothing; only an authenticated one spends its nonce.
        assert _rows()[:4] == before[:4]
        if response.status_code in (401, 403, 404):
            assert _rows() == before


# Hypothesis: JSON fields -----------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["0", "1", "2", "-1", "1e3", "２", "²", "javascript:alert(1)", "<script>x</script>"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
FIELDS = [
    "taskName", "deliveryType", "targetMsgkey", "title", "body", "uri", "pushAction", "extendedParams",
    "expiredSeconds", "androidChannel", "pushTime", "silent", "templateName", "templateParam", "idempotentToken",
    "target", "targetValue", "templateDesc", "content", "displayType", "displayStyle", "iconUrl", "imageUrl",
    "activity", "pageSize", "page", "deviceId", "platform", "token", "vendor", "userId", "account", "aliases",
    "tags", "phone", "pushId", "event", "pushIds",
]  # fmt: skip
SERVER_PATHS = [
    "/api/v1/push/simple",
    "/api/v1/push/template",
    "/api/v1/push/broadcast",
    "/api/v1/push/continuous",
    "/api/v1/templates/create",
    "/api/v1/templates/list",
    "/api/v1/templates/get",
    "/api/v1/templates/delete",
]
CLIENT_PATHS = [
    "/api/v1/client/device/report",
    "/api/v1/client/user/bind",
    "/api/v1/client/account/bind",
    "/api/v1/client/alias/add",
    "/api/v1/client/tag/add",
    "/api/v1/client/phone/bind",
    "/api/v1/client/receipt",
    "/api/v1/client/ack",
]
BASE = {
    "deliveryType": 1,
    "targetMsgkey": {"dev-1": "m-1"},
    "title": "Hello",
    "body": "World",
    "templateName": "promo",
    "templateParam": {"name": "A", "code": "1"},
    "content": "World",
    "deviceId": "dev-1",
    "platform": "android",
}


@pytest.mark.django_db
@FAST
@given(
    path=st.sampled_from(SERVER_PATHS + CLIENT_PATHS),
    fields=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4),
)
def test_no_json_field_gives_a_5xx_and_a_refusal_changes_no_row(server, app, path, fields):
    if not PushTemplate.objects.filter(app=app, name="promo").exists():
        make_template(app, "promo")
    kind = "client" if "/client/" in path else "server"
    signer = SignedClient(server.client, app, private_pem=server.private_pem, kind=kind)
    raw = json.dumps({**BASE, **fields}, allow_nan=True).encode()
    before = _rows()
    response = signer.post(path, raw=raw)
    assert response.status_code < 500, response.content
    if response.json()["resultCode"] != 100:
        assert _rows()[:4] == before[:4]


# Hypothesis: the multiple-push line parser ------------------------------------------------------

line_text = st.text(alphabet=st.one_of(st.sampled_from(",=#{}[]. \t\\%"), st.characters(codec="utf-8")), max_size=300)
placeholder = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=6)


@FAST
@given(
    text=line_text,
    names=st.lists(placeholder, max_size=3),
    url=st.sampled_from(["", "https://example.com/#name#", "#name#"]),
)
def test_no_line_makes_the_parser_raise(text, names, url):
    title = " ".join(f"#{n}#" for n in names) or "Hi"
    version = type("V", (), {"title": title, "body": "b #name#", "url": url})()
    tpl = Template.of(version)
    outcome = check_line(1, text, tpl)
    assert isinstance(outcome, str) or outcome.target_id
    if not isinstance(outcome, str):
        assert outcome.url == "" or outcome.url.startswith(("http://", "https://"))
