"""The signed server API for sends: every rule with its SPEC code, and nothing created on refusal."""

from __future__ import annotations

import json
import time

import pytest
import redis

from campaigns.delivery import ready
from campaigns.models import Message, MessageState, PushTask, TaskStatus
from console.models import AuditEntry, KeyConfig
from tests.apiclient import nonces_recorded
from tests.campaigns import send_fixtures as sf
from tests.campaigns.send_fixtures import bind, make_device, make_template

api, template = sf.api, sf.template

pytestmark = pytest.mark.django_db


def simple(**over):
    body = {
        "taskName": "api simple",
        "deliveryType": 1,
        "targetMsgkey": {"dev-1": "m-1"},
        "title": "Hello",
        "body": "World",
    }
    body.update(over)
    return body


def nothing_created():
    return PushTask.objects.count() == 0 and Message.objects.count() == 0


def test_simple_push_creates_a_queued_task_with_pending_messages_and_queues_it_for_dispatch(
    api, app, settings, django_capture_on_commit_callbacks
):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("dispatch", ready.READY_KEY, ready.MARK_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/push/simple",
            simple(
                targetMsgkey={"dev-1": "m-1", "dev-2": "m-2"},
                pushAction=0,
                uri="https://example.com/x",
                extendedParams={"sound": "ding", "badge_add_num": "1", "badge_class": "Main"},
                expiredSeconds=600,
            ),
        )
    data = response.json()
    assert data["resultCode"] == 100 and data["resultMsg"] == "SUCCESS" and data["requestId"]
    task = PushTask.objects.get(pk=data["pushResult"]["taskId"])
    assert task.status == TaskStatus.QUEUED and task.source == "api" and task.push_type == "SIMPLE"
    messages = list(task.messages.order_by("customer_msg_id"))
    assert [m.customer_msg_id for m in messages] == ["m-1", "m-2"]
    m = messages[0]
    assert m.state == MessageState.PENDING and m.target_type == "android_device" and m.platform == "android"
    assert m.payload["click_action"] == "open_url" and m.payload["url"] == "https://example.com/x"
    assert m.payload["extras"]["sound"] == "ding" and m.payload["android_channel"] == "auto"
    assert abs((m.expires_at - m.created_at).total_seconds() - 600) < 2
    assert AuditEntry.objects.filter(app=app, action="send.submit", target=f"task {task.pk}").exists()
    # After commit the send joined the ready list, and a drain message went to the real
    # broker's dispatch queue (campaigns.delivery.ready).
    assert [int(x) for x in broker.lrange(ready.READY_KEY, 0, -1)] == [task.pk]
    queued = [json.loads(raw) for raw in broker.lrange("dispatch", 0, -1)]
    assert [q["headers"]["task"] for q in queued] == ["campaigns.delivery.tasks.dispatch_ready"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (simple(targetMsgkey={f"d{i}": f"m{i}" for i in range(11)}), 3029),
        (simple(targetMsgkey={}), 3021),
        (simple(deliveryType=7), 3009),
        (simple(extendedParams={"taskId": "1"}), 3044),
        (simple(extendedParams={"channel": "x"}), 3044),
        (simple(extendedParams={"badge_add_num": "1"}), 3059),
        (simple(extendedParams={"badge_add_num": "x", "badge_class": "A"}), 3058),
        (simple(extendedParams={"big_text": "2"}), 3044),
        (simple(extendedParams={f"k{i}": "v" for i in range(21)}), 3035),
        (simple(expiredSeconds=72 * 3600 + 1), 3026),
        (simple(expiredSeconds=0), 3020),
        (simple(title=""), 3024),
        (simple(title="x" * 51), 3043),
        (simple(targetMsgkey={"dev-1": "m" * 65}), 3028),
        (simple(androidChannel=5), 3057),
        (simple(pushTime="2020-01-01T00:00:00+00:00"), 3028),
        (simple(body="x" * 150, extendedParams={f"k{i}": "v" * 200 for i in range(20)}), 3050),
    ],
)
def test_simple_push_rules(api, payload, code):
    data = api.post("/api/v1/push/simple", payload).json()
    assert data["resultCode"] == code, data
    assert nothing_created()


def test_customer_msg_id_is_unique_per_app(api):
    assert api.post("/api/v1/push/simple", simple()).json()["resultCode"] == 100
    data = api.post("/api/v1/push/simple", simple()).json()
    assert data["resultCode"] == 3028 and data["detail"] == "customer message id already used: m-1"
    assert PushTask.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_msg_key_pushed_twice_at_the_same_moment_is_sent_once(app):
    """No read before the insert: the unique constraint decides, and the loser is told which id."""
    from django.test import Client

    from tests.apiclient import SignedClient, enable_server_api
    from tests.concurrency import at_the_same_moment

    private_pem = enable_server_api(app)
    body = simple(targetMsgkey={"dev-1": "twin"})
    answers = at_the_same_moment(
        lambda: SignedClient(Client(), app, private_pem=private_pem).post("/api/v1/push/simple", body).json()
    )
    assert sorted(a["resultCode"] for a in answers) == [100, 3028], answers
    assert next(a["detail"] for a in answers if a["resultCode"] == 3028) == "customer message id already used: twin"
    assert PushTask.objects.filter(app=app).count() == 1 and Message.objects.filter(app=app).count() == 1
    from console.models import AuditEntry

    assert AuditEntry.objects.filter(app=app, action="send.submit").count() == 1


def test_schedule_more_than_seven_days_ahead_is_refused(api):
    from datetime import timedelta

    from django.utils import timezone

    at = (timezone.now() + timedelta(days=7, minutes=5)).isoformat()
    assert api.post("/api/v1/push/simple", simple(pushTime=at)).json()["resultCode"] == 3028
    at = (timezone.now() + timedelta(days=2)).isoformat()
    data = api.post("/api/v1/push/simple", simple(pushTime=at)).json()
    assert PushTask.objects.get(pk=data["pushResult"]["taskId"]).status == TaskStatus.SCHEDULED


def test_template_push_renders_and_records_the_version(api, template):
    data = api.post(
        "/api/v1/push/template",
        {
            "taskName": "api template",
            "deliveryType": 3,
            "targetMsgkey": {"u1": "t-1"},
            "templateName": "promo",
            "templateKeyValue": json.dumps({"name": "Ann", "code": "42"}),
        },
    ).json()
    assert data["resultCode"] == 100
    task = PushTask.objects.get(pk=data["pushResult"]["taskId"])
    assert task.template_version == template.current_version
    message = task.messages.get()
    assert (message.title, message.body, message.target_type) == ("Hi Ann", "Your code is 42", "user")


def test_template_push_names_every_missing_key(api, template):
    data = api.post(
        "/api/v1/push/template",
        {
            "taskName": "api template",
            "deliveryType": 3,
            "targetMsgkey": {"u1": "t-1"},
            "templateName": "promo",
            "templateKeyValue": {},
        },
    ).json()
    assert data["resultCode"] == 3023 and "name" in data["detail"] and "code" in data["detail"]
    assert nothing_created()


def test_template_push_unknown_template_and_missing_name(api):
    base = {"taskName": "api template", "deliveryType": 3, "targetMsgkey": {"u1": "t-1"}}
    assert api.post("/api/v1/push/template", {**base, "templateName": "nope"}).json()["resultCode"] == 3022
    assert api.post("/api/v1/push/template", base).json()["resultCode"] == 3025
    assert nothing_created()


def test_multiple_push_one_message_per_target_with_own_values(api, template):
    rows = [
        {
            "target": f"d{i}",
            "msgKey": f"mk{i}",
            "templateKeyValue": {"name": f"N{i}", "code": str(i)},
            "extendedParams": {"sound": "s"},
        }
        for i in range(3)
    ]
    data = api.post(
        "/api/v1/push/multiple", {"taskName": "m", "deliveryType": 2, "templateName": "promo", "targetMsg": rows}
    ).json()
    assert data["resultCode"] == 100
    titles = list(Message.objects.order_by("customer_msg_id").values_list("title", "platform"))
    assert titles == [("Hi N0", "ios"), ("Hi N1", "ios"), ("Hi N2", "ios")]


@pytest.mark.parametrize(
    ("rows", "code"),
    [
        (
            [
                {"target": f"d{i}", "msgKey": f"k{i}", "templateKeyValue": {"name": "a", "code": "b"}}
                for i in range(401)
            ],
            3055,
        ),
        (
            [
                {
                    "target": "d",
                    "msgKey": "k",
                    "templateKeyValue": {"name": "a", "code": "b"},
                    "extendedParams": {f"e{i}": "1" for i in range(11)},
                }
            ],
            3049,
        ),
        ([{"target": "d", "msgKey": "k", "templateKeyValue": {"name": "a"}}], 3023),
        (
            [
                {"target": "d", "msgKey": "k", "templateKeyValue": {"name": "a", "code": "b"}},
                {"target": "e", "msgKey": "k", "templateKeyValue": {"name": "a", "code": "b"}},
            ],
            3028,
        ),
    ],
)
def test_multiple_push_rules(api, template, rows, code):
    data = api.post(
        "/api/v1/push/multiple", {"taskName": "m", "deliveryType": 1, "templateName": "promo", "targetMsg": rows}
    ).json()
    assert data["resultCode"] == code, data
    assert nothing_created()


def broadcast(**over):
    body = {
        "taskName": "api broadcast",
        "deliveryType": 1,
        "templateName": "promo",
        "templateKeyValue": {"name": "A", "code": "B"},
    }
    body.update(over)
    return body


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (broadcast(deliveryType=3), 3030),
        (broadcast(deliveryType=2, pushStatus=1), 3051),
        (broadcast(deliveryType=2, pushStatus=1, unBindPeriod=5), 3052),
        (broadcast(deliveryType=2, pushStatus=1, unBindPeriod=0), 3052),
        (broadcast(pushStatus=1, unBindPeriod=1, androidChannel=1), 3053),
        (broadcast(silent=True, pushStatus=1, unBindPeriod=2), 3053),
        (broadcast(pushStatus=2), 3028),
        (broadcast(unBindPeriod=2), 3028),
        (broadcast(templateKeyValue={}), 3023),
        (broadcast(target="tag", targetValue={"xor": []}), 3028),
        (broadcast(target="account", targetValue=[f"a{i}" for i in range(1001)]), 3055),
        (broadcast(target="device", targetValue=["d1"]), 3028),
    ],
)
def test_broadcast_rules(api, template, payload, code):
    data = api.post("/api/v1/push/broadcast", payload).json()
    assert data["resultCode"] == code, data
    assert nothing_created()


def test_broadcast_waits_for_approval_and_keeps_the_target_in_params(api, app, template):
    make_device(app, "ios-1", "ios")
    data = api.post(
        "/api/v1/push/broadcast", broadcast(deliveryType=2, pushStatus=1, unBindPeriod=2, msgkey="bc-1")
    ).json()
    assert data["resultCode"] == 100
    task = PushTask.objects.get(pk=data["pushResult"]["taskId"])
    assert task.status == TaskStatus.AWAITING_APPROVAL  # App.approval_for_broadcast defaults on
    assert task.params["target_type"] == "all" and task.params["platform"] == "ios"
    assert task.params["unbind_period"] == 3 and task.target_count == 1
    message = task.messages.get()
    assert message.customer_msg_id == "bc-1" and message.title == "Hi A"


def test_broadcast_without_approval_rule_is_queued(api, app, template):
    app.approval_for_broadcast = False
    app.save()
    data = api.post("/api/v1/push/broadcast", broadcast(pushStatus=1, unBindPeriod=1)).json()
    assert PushTask.objects.get(pk=data["pushResult"]["taskId"]).status == TaskStatus.QUEUED


def test_tag_expression_target(api, app, template):
    from campaigns.models import Tag

    app.approval_for_broadcast = False
    app.save()
    d1, d2 = make_device(app, "a1"), make_device(app, "a2")
    vip = Tag.objects.create(app=app, name="vip")
    vip.devices.add(d1, d2)
    Tag.objects.create(app=app, name="churn").devices.add(d2)
    expr = {"and": ["vip", {"not": "churn"}]}
    data = api.post("/api/v1/push/broadcast", broadcast(target="tag", targetValue=expr)).json()
    task = PushTask.objects.get(pk=data["pushResult"]["taskId"])
    assert task.params["tag_expression"] == expr and task.target_count == 1


def test_idempotent_token_returns_the_first_result(api, app):
    first = api.post("/api/v1/push/simple", simple(idempotentToken="retry-1")).json()
    again = api.post("/api/v1/push/simple", simple(idempotentToken="retry-1", title="Changed")).json()
    assert again["resultCode"] == 100
    assert again["pushResult"]["taskId"] == first["pushResult"]["taskId"]
    assert again["pushResult"]["duplicate"] is True
    assert PushTask.objects.count() == 1 and Message.objects.get().title == "Hello"


def test_continuous_push_create_then_batches(api, app):
    created = api.post("/api/v1/push/continuous", {"title": "T", "body": "B"}).json()
    assert created["resultCode"] == 100
    msg_id = created["pushResult"]["messageId"]
    task = PushTask.objects.get(pk=msg_id)
    assert task.status == TaskStatus.DRAFT and task.messages.count() == 0
    one = api.post(
        "/api/v1/push/continuous",
        {"messageId": msg_id, "target": "device", "targetValue": ["d1", "d2"], "idempotentToken": "b1"},
    ).json()
    assert one["resultCode"] == 100 and one["pushResult"]["batches"] == 1
    retry = api.post(
        "/api/v1/push/continuous",
        {"messageId": msg_id, "target": "device", "targetValue": ["d1", "d2"], "idempotentToken": "b1"},
    ).json()
    assert retry["pushResult"]["duplicate"] is True
    two = api.post("/api/v1/push/continuous", {"messageId": msg_id, "target": "alias", "targetValue": ["x"]}).json()
    assert two["pushResult"]["batches"] == 2
    task.refresh_from_db()
    assert task.status == TaskStatus.QUEUED and task.messages.count() == 3
    alias_msg = task.messages.get(target_type="alias")
    assert alias_msg.payload["target_values"] == ["x"] and alias_msg.title == "T"
    # The send notes its batches' target types: the push records page names them without its messages.
    assert task.params["target_types"] == ["alias", "device"]
    too_many = api.post("/api/v1/push/continuous", {"messageId": msg_id, "targetValue": [str(i) for i in range(1001)]})
    assert too_many.json()["resultCode"] == 3055


# Signature: each refusal creates nothing (no task, no message, no nonce stored).


def test_tampered_body_is_refused(api):
    body = json.dumps(simple()).encode()
    headers = api.headers("POST", "/api/v1/push/simple", body)
    tampered = body.replace(b"Hello", b"Hellp")
    response = api.client.post("/api/v1/push/simple", data=tampered, content_type="application/json", **headers)
    assert response.json()["resultCode"] == -1 and response.status_code == 401
    assert nothing_created() and nonces_recorded(api.app) == 0


def test_old_timestamp_is_refused(api):
    old = int(time.time() * 1000) - 6 * 60 * 1000
    assert api.post("/api/v1/push/simple", simple(), timestamp=old).json()["resultCode"] == -1
    assert nothing_created()


def test_replayed_nonce_is_refused(api):
    assert api.post("/api/v1/push/simple", simple(), nonce="n-1").json()["resultCode"] == 100
    again = api.post("/api/v1/push/simple", simple(targetMsgkey={"dev-9": "m-9"}), nonce="n-1").json()
    assert again["resultCode"] == -1 and "nonce" in again["detail"]
    assert PushTask.objects.count() == 1 and Message.objects.count() == 1


def test_missing_headers_are_refused(api, client):
    response = client.post("/api/v1/push/simple", data=json.dumps(simple()), content_type="application/json")
    assert (response.status_code, response.json()["resultCode"]) == (401, -1)
    body = json.dumps(simple()).encode()
    headers = api.headers("POST", "/api/v1/push/simple", body)
    del headers["HTTP_X_PUSHDECK_SIGNATURE"]
    response = client.post("/api/v1/push/simple", data=body, content_type="application/json", **headers)
    assert response.json()["resultCode"] == -1
    assert nothing_created()


def test_api_switch_off_gives_3032(api, app):
    KeyConfig.objects.filter(app=app).update(api_enabled=False)
    assert api.post("/api/v1/push/simple", simple()).json()["resultCode"] == 3032
    assert nothing_created()


def test_rate_limit_per_app_answers_429(api, app, other_app, client, settings):
    from tests.apiclient import SignedClient, enable_server_api

    settings.PUSHDECK_API_RATE_LIMIT_PER_MINUTE = 2
    codes = [api.post("/api/v1/push/simple", simple(targetMsgkey={f"d{i}": f"m{i}"})).status_code for i in range(3)]
    assert codes == [200, 200, 429]
    limited = api.post("/api/v1/push/simple", simple(targetMsgkey={"x": "y"}))
    assert limited.status_code == 429 and limited.json()["resultCode"] == 3028 and int(limited["Retry-After"]) > 0
    assert PushTask.objects.count() == 2
    # Another app has its own quota.
    other = SignedClient(client, other_app, private_pem=enable_server_api(other_app))
    assert other.post("/api/v1/push/simple", simple()).json()["resultCode"] == 100


def test_api_calls_are_audited(api, app):
    api.post("/api/v1/push/simple", simple(extendedParams={"taskId": "1"}))
    api.post("/api/v1/push/simple", simple())
    actions = set(AuditEntry.objects.filter(app=app).values_list("action", flat=True))
    assert {"api.push.refused", "send.submit"} <= actions
    entry = AuditEntry.objects.get(action="send.submit")
    assert entry.actor_label == f"api:{app.app_key}" and entry.summary["messages"] == 1


def test_openapi_document_lists_every_send_endpoint(client):
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {path for path in doc["paths"] if path.startswith("/api/v1/push/")} == {
        f"/api/v1/push/{op}" for op in ("simple", "template", "multiple", "broadcast", "continuous")
    }
    props = doc["paths"]["/api/v1/push/simple"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"taskName", "deliveryType", "targetMsgkey", "expiredSeconds", "extendedParams"} <= set(props["properties"])


def test_ios_device_binding_helpers_work(app):
    device = make_device(app, "i1", "ios")
    assert bind(app, "u", device).user_id == "u"
    assert make_template(app, "other").current_version.number == 1
