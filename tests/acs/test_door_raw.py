"""The door seen by a raw ACS3 client: every refusal is the SDK-readable error and creates nothing;
console pages are not disturbed."""

from __future__ import annotations

import json

import pytest

from campaigns.models import PushTask
from console.acs.models import AccessKey, DoorNonce
from console.models import AuditEntry
from tests.acs.helpers import RawClient

pytestmark = pytest.mark.django_db


def test_console_pages_are_not_disturbed(client, app, marketer):
    assert client.get("/")["Location"].startswith("/accounts/login/")  # as before
    assert client.post("/", {"AppId": "x"}).status_code in (302, 403, 405)
    client.force_login(marketer)
    assert client.get("/")["Location"] == f"/apps/{app.app_key}/"
    assert client.get(f"/apps/{app.app_key}/").status_code == 200


def test_refusals_through_a_raw_client(client, app, marketer_key):
    raw = RawClient(client, marketer_key)
    params = {"AppId": app.app_key, "WorkspaceId": "default", "TaskName": "raw", "DeliveryType": "1"}
    params.update({"Title": "t", "Content": "c"})
    params["TargetMsgkey"] = json.dumps({"d1": "raw-1"})

    # A body changed after signing.
    body = raw.post("PushSimple", params, send_body=b"AppId=" + app.app_key.encode() + b"&Title=evil")
    assert (body.status_code, body.json()["Code"]) == (400, "SignatureDoesNotMatch")
    assert "server string to sign is:ACS3-HMAC-SHA256\n" in body.json()["Message"]
    # A date out of the 15 minute window.
    stale = raw.post("PushSimple", params, date="2020-01-01T00:00:00Z")
    assert (stale.status_code, stale.json()["Code"]) == (400, "InvalidTimeStamp.Expired")
    # A replayed nonce.
    first = raw.post("PushSimple", params, nonce="same-nonce")
    assert first.status_code == 200 and first.json()["ResultCode"] == "100"
    again = raw.post("PushSimple", {**params, "TargetMsgkey": json.dumps({"d1": "raw-2"})}, nonce="same-nonce")
    assert (again.status_code, again.json()["Code"]) == (400, "SignatureNonceUsed")
    assert PushTask.objects.count() == 1 and DoorNonce.objects.count() == 1
    # Unknown action and version.
    assert raw.post("PushNothing", params).json()["Code"] == "InvalidAction.NotFound"
    assert raw.post("PushSimple", params, version="2019-08-21").json()["Code"] == "InvalidVersion"
    # A disabled key, then a deleted one.
    AccessKey.objects.filter(pk=marketer_key.pk).update(enabled=False)
    disabled = raw.post("PushSimple", {**params, "TargetMsgkey": json.dumps({"d1": "raw-3"})})
    assert (disabled.status_code, disabled.json()["Code"]) == (403, "InvalidAccessKeyId.Inactive")
    AccessKey.objects.filter(pk=marketer_key.pk).delete()
    deleted = raw.post("PushSimple", {**params, "TargetMsgkey": json.dumps({"d1": "raw-4"})})
    assert (deleted.status_code, deleted.json()["Code"]) == (404, "InvalidAccessKeyId.NotFound")
    assert PushTask.objects.count() == 1
    assert AuditEntry.objects.filter(action="door.refused", summary__code="SignatureDoesNotMatch").exists()


@pytest.mark.parametrize("who", ["wrong_secret", "auditor", "outsider"])
def test_wrong_secret_auditor_and_another_apps_key_create_nothing(
    who, client, app, marketer_key, auditor_key, outsider_key
):
    key = {"auditor": auditor_key, "outsider": outsider_key}.get(who, marketer_key)
    raw = RawClient(client, key, secret="guessed" if who == "wrong_secret" else None)
    params = {"AppId": app.app_key, "WorkspaceId": "default", "TaskName": "raw", "DeliveryType": "1"}
    params.update({"Title": "t", "Content": "c", "TargetMsgkey": json.dumps({"d1": "raw-1"})})
    response = raw.post("PushSimple", params)
    expected = (400, "SignatureDoesNotMatch") if who == "wrong_secret" else (403, "Forbidden")
    assert (response.status_code, response.json()["Code"]) == expected
    assert response["Content-Type"].startswith("application/json") and response.json()["RequestId"]
    assert PushTask.objects.count() == 0 and DoorNonce.objects.count() == (0 if who == "wrong_secret" else 1)


def test_the_overview_shows_app_id_and_workspace_id(client_for, app, marketer):
    html = client_for(marketer).get(f"/apps/{app.app_key}/").content.decode()
    assert f'<code data-testid="mpaas-app-id">{app.app_key}</code>' in html
    assert '<code data-testid="mpaas-workspace-id">default</code>' in html


def test_the_apps_allowlist_and_rate_limit_hold_at_the_door(client, app, marketer_key):
    from console.models import KeyConfig
    from console.security.models import ApiRateLimit

    raw = RawClient(client, marketer_key)
    params = {"AppId": app.app_key, "WorkspaceId": "default", "TaskName": "raw", "DeliveryType": "1"}
    params.update({"Title": "t", "Content": "c"})
    KeyConfig.objects.filter(app=app).update(ip_allowlist="10.0.0.0/8")
    far = raw.post("PushSimple", {**params, "TargetMsgkey": json.dumps({"d1": "g-1"})})
    assert (far.status_code, far.json()["Code"]) == (403, "Forbidden.SourceAddress")
    assert PushTask.objects.count() == 0
    KeyConfig.objects.filter(app=app).update(ip_allowlist="127.0.0.1")
    ApiRateLimit.objects.create(app=app, per_minute=1)
    first = raw.post("PushSimple", {**params, "TargetMsgkey": json.dumps({"d1": "g-2"})})
    assert first.json()["ResultCode"] == "100"
    second = raw.post("PushSimple", {**params, "TargetMsgkey": json.dumps({"d1": "g-3"})})
    assert (second.status_code, second.json()["Code"]) == (429, "Throttling.User")
    assert int(second["Retry-After"]) >= 1 and PushTask.objects.count() == 1
