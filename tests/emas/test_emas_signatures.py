"""Signature attacks on the EMAS door, for both signature versions: each refused as the SDKs
expect (HTTP 4xx, JSON RequestId / Code / Message) with nothing created."""

from __future__ import annotations

import uuid

import pytest

from campaigns.models import PushTask
from console.acs.signing import acs3_headers

from .helpers import VERSION, SdkError, Sdks, iso

PUSH = {
    "Target": "DEVICE",
    "TargetValue": "iphone-1",
    "DeviceType": "ALL",
    "PushType": "NOTICE",
    "Title": "T",
    "Body": "B",
}


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["Code"] == code and body["RequestId"] and body["Message"]


def test_rpc_attacks_are_refused_and_nothing_is_created(app, fleet, raw, marketer_key):
    params = {"AppKey": app.emas_app_key, **PUSH}
    good = raw.signed("Push", params)
    tampered = {**good, "TargetValue": "huawei-1"}
    refused(raw.post(tampered), 400, "SignatureDoesNotMatch")
    assert "server string to sign is:POST&%2F&" in raw.post(tampered).json()["Message"]
    wrong = raw.__class__(raw.client, marketer_key, secret="not-the-secret")
    refused(wrong.post(wrong.signed("Push", params)), 400, "SignatureDoesNotMatch")
    refused(raw.post(raw.signed("Push", params, timestamp=iso(minutes=-20))), 400, "InvalidTimeStamp.Expired")
    refused(raw.post(raw.signed("Push", params, timestamp=iso(minutes=20))), 400, "InvalidTimeStamp.Expired")
    refused(raw.post({**good, "AccessKeyId": "PDAKnobody"}), 404, "InvalidAccessKeyId.NotFound")
    refused(raw.post({k: v for k, v in good.items() if k != "SignatureNonce"}), 400, "MissingParameter")
    assert PushTask.objects.count() == 0
    # The genuine call goes through once; the same nonce again is a replay.
    assert raw.post(good).status_code == 200
    refused(raw.post(good), 400, "SignatureNonceUsed")
    marketer_key.enabled = False
    marketer_key.save()
    refused(raw.post(raw.signed("Push", params)), 403, "InvalidAccessKeyId.Inactive")
    assert PushTask.objects.count() == 1


def test_acs3_attacks_are_refused_and_nothing_is_created(app, fleet, client, marketer_key):
    query = [(k, str(v)) for k, v in {"AppKey": app.emas_app_key, **PUSH}.items()]

    def post(headers, *, sent_query=None):
        from urllib.parse import urlencode

        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "host"}
        return client.generic("POST", "/?" + urlencode(sent_query or query), data=b"", HTTP_HOST="testserver", **extra)

    def sign(*, secret=None, date=None, nonce=None):
        return acs3_headers(
            access_key_id=marketer_key.access_key_id,
            secret=secret or marketer_key.secret,
            action="Push",
            version=VERSION,
            host="testserver",
            body=b"",
            date=date or iso(),
            nonce=nonce or uuid.uuid4().hex,
            query=query,
        )

    good = sign()
    refused(post(good, sent_query=[*query[:1], ("TargetValue", "huawei-1"), *query[2:]]), 400, "SignatureDoesNotMatch")
    refused(post(sign(secret="not-the-secret")), 400, "SignatureDoesNotMatch")
    refused(post(sign(date=iso(minutes=-20))), 400, "InvalidTimeStamp.Expired")
    assert PushTask.objects.count() == 0
    assert post(good).status_code == 200
    refused(post(good), 400, "SignatureNonceUsed")
    marketer_key.enabled = False
    marketer_key.save()
    refused(post(sign()), 403, "InvalidAccessKeyId.Inactive")
    assert PushTask.objects.count() == 1


def test_the_sdks_raise_their_usual_exceptions_with_the_code(app, fleet, live_server, marketer_key):
    for kind in ("tea", "old"):
        with pytest.raises(SdkError) as error:
            Sdks(live_server, marketer_key, secret="not-the-secret").call(
                kind, "Push", {"AppKey": app.emas_app_key, **PUSH}
            )
        # The old SDK compares our string to sign with its own: equal, so it names the secret as wrong.
        assert error.value.code == ("SignatureDoesNotMatch" if kind == "tea" else "InvalidAccessKeySecret")
    marketer_key.enabled = False
    marketer_key.save()
    for kind in ("tea", "old"):
        with pytest.raises(SdkError) as error:
            Sdks(live_server, marketer_key).call(kind, "Push", {"AppKey": app.emas_app_key, **PUSH})
        assert error.value.code == "InvalidAccessKeyId.Inactive"
    assert PushTask.objects.count() == 0
