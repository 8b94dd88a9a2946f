"""The door: the official mPaaS SDK pushes through the live server to the fake APNs; its errors
carry the SDK's usual codes."""

from __future__ import annotations

import json

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException

from campaigns.models import Message, PushTask, TaskStatus
from console.acs.door import actions
from console.acs.models import AccessKey
from console.models import AuditEntry
from tests.acs.helpers import ids, mpaas, no_retry, sdk
from tests.delivery.conftest import make_device, run_task

pytestmark = pytest.mark.django_db(transaction=True)


def simple_request(app, targets: dict, **over) -> mpaas.PushSimpleRequest:
    fields = dict(
        **ids(app),
        task_name="sdk simple",
        title="Hello",
        content="From the SDK",
        delivery_type=2,
        expired_seconds=300,
        target_msgkey=json.dumps(targets),
    )
    fields.update(over)
    return mpaas.PushSimpleRequest(**fields)


def test_sdk_push_simple_reaches_the_fake_apns(app, marketer_key, gateways, live_server):
    device = make_device(app, platform="ios")
    client = sdk(live_server, marketer_key)
    response = client.push_simple_with_options(simple_request(app, {device.device_id: "sdk-1"}), no_retry())
    body = response.body
    assert response.status_code == 200
    assert (body.result_code, body.result_message, body.push_result.success) == ("100", "SUCCESS", True)
    assert body.request_id
    task = PushTask.objects.get(pk=int(body.push_result.data))
    assert (task.name, task.source, task.api_caller, task.created_by) == (
        "sdk simple",
        "api",
        f"ak:{marketer_key.access_key_id}",
        marketer_key.user,
    )
    assert task.status == TaskStatus.QUEUED
    run_task(task)
    assert [r.token for r in gateways.apns.requests] == [device.apns_token]
    sent = json.loads(gateways.apns.requests[0].body)
    assert sent["aps"]["alert"] == {"title": "Hello", "body": "From the SDK"}
    assert Message.objects.get(task=task).customer_msg_id == "sdk-1"
    marketer_key.refresh_from_db()
    assert marketer_key.last_used_at is not None
    assert AuditEntry.objects.filter(action="send.submit", actor=marketer_key.user, app=app).exists()


@pytest.mark.parametrize(
    ("who", "code", "status"),
    [
        ("unknown", "InvalidAccessKeyId.NotFound", 404),
        ("wrong_secret", "SignatureDoesNotMatch", 400),
        ("outsider", "Forbidden", 403),
        ("auditor", "Forbidden", 403),
    ],
)
def test_sdk_raises_its_usual_exception_and_nothing_is_sent(
    who, code, status, app, marketer_key, auditor_key, outsider_key, live_server
):
    key = {"outsider": outsider_key, "auditor": auditor_key}.get(who, marketer_key)
    if who == "unknown":
        key = AccessKey(access_key_id="PDAKnobodyhasthiskey00", secret="x")
    client = sdk(live_server, key, secret="not-the-secret" if who == "wrong_secret" else None)
    with pytest.raises(ClientException) as caught:
        client.push_simple_with_options(simple_request(app, {"dev-1": "m-1"}), no_retry())
    assert caught.value.code == code and caught.value.status_code == status
    assert caught.value.data["RequestId"] and caught.value.data["Message"]
    assert PushTask.objects.count() == 0 and Message.objects.count() == 0


def test_a_second_version_finds_its_actions_beside_mpaas():
    assert ("2020-10-28", "PushSimple") in actions("2020-10-28")


def test_the_same_signed_call_sent_twice_at_the_same_moment_pushes_once(app, marketer_key, live_server):
    import threading
    import uuid
    from urllib.parse import urlencode, urlsplit

    import httpx

    from console.acs.signing import acs3_headers
    from tests.acs.helpers import iso_now

    params = {"AppId": app.app_key, "WorkspaceId": "default", "TaskName": "twice", "DeliveryType": "1"}
    params.update({"Title": "t", "Content": "c", "TargetMsgkey": json.dumps({"d1": "twice-1"})})
    body = urlencode(params).encode()
    host = urlsplit(live_server.url).netloc
    headers = acs3_headers(
        access_key_id=marketer_key.access_key_id,
        secret=marketer_key.secret,
        action="PushSimple",
        version="2020-10-28",
        host=host,
        body=body,
        date=iso_now(),
        nonce=uuid.uuid4().hex,
    )
    start, answers = threading.Barrier(2), []

    def send():
        start.wait()
        answers.append(httpx.post(live_server.url + "/", content=body, headers=headers, timeout=20))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted((a.status_code, a.json().get("Code") or a.json().get("ResultCode")) for a in answers)
    assert codes == [(200, "100"), (400, "SignatureNonceUsed")]
    assert PushTask.objects.count() == 1 and Message.objects.count() == 1
