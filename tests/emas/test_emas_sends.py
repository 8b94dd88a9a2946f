"""Sending through the EMAS door with both official SDKs, against the live server, to the fake gateways.

Each push goes in through the SDK, is fanned out by the real engine (`run_task`), and is
checked where it ends: the fake APNs / Huawei got it, and the console lists it.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.delivery import status
from campaigns.delivery.dispatch import task_stop_deliveries
from campaigns.models import Delivery, Message, MessageState, PushTask, TaskStatus
from campaigns.reports import selectors
from tests.delivery.conftest import run_task

from .helpers import SdkError, Sdks, iso

KINDS = ["tea", "old"]


def fmt(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def task_of(body: dict) -> PushTask:
    assert set(body) == {"MessageId", "RequestId"} and body["MessageId"].isdigit()
    return PushTask.objects.get(pk=int(body["MessageId"]))


def delivered(task: PushTask, gateways) -> dict[str, str]:
    """device id -> channel, for each delivery the fake gateways really got."""
    apns = set(gateways.apns_ids())
    huawei = gateways.huawei_tokens()
    out = {}
    for d in Delivery.objects.filter(message__task=task).select_related("device"):
        if d.channel == "apns" and str(d.push_id) in apns:
            out[d.device.device_id] = "apns"
        elif d.channel == "huawei" and d.device.vendor_token in huawei and d.state == MessageState.ACCEPTED:
            out[d.device.device_id] = "huawei"
    return out


PUSH = {"DeviceType": "ALL", "PushType": "NOTICE", "Title": "Hello", "Body": "From EMAS"}


def test_push_reaches_every_target_kind_at_the_fake_gateways(app, fleet, sdks, gateways, clean_broker):
    for kind in KINDS:
        key = app.emas_app_key
        cases = [
            ({"Target": "DEVICE", "TargetValue": "iphone-1,huawei-1"}, {"iphone-1": "apns", "huawei-1": "huawei"}),
            ({"Target": "ACCOUNT", "TargetValue": "acct-1"}, {"iphone-1": "apns"}),
            ({"Target": "ALIAS", "TargetValue": "alias-1"}, {"huawei-1": "huawei"}),
            (
                {"Target": "TAG", "TargetValue": json.dumps({"or": [{"tag": "vip"}, {"tag": "nobody"}]})},
                {"iphone-1": "apns"},
            ),
            ({"Target": "ALL", "DeviceType": "iOS"}, {"iphone-1": "apns"}),
        ]
        for target, reached in cases:
            task = task_of(sdks.call(kind, "Push", {"AppKey": key, **PUSH, **target}))
            assert task.source == "api" and task.created_by.username == "mark_marketer"
            run_task(task)
            assert delivered(task, gateways) == reached, target
        # The APNs payload is the notification the SDK asked for.
        assert gateways.apns.requests[0].payload["aps"]["alert"] == {"title": "Hello", "body": "From EMAS"}


def test_push_options_reach_the_gateway_and_message_pushes_are_pass_through(app, fleet, sdks, gateways):
    for kind in KINDS:
        body = sdks.call(
            kind,
            "Push",
            {
                "AppKey": app.emas_app_key,
                **PUSH,
                "Target": "DEVICE",
                "TargetValue": "iphone-1",
                "DeviceType": "iOS",
                "iOSBadge": 7,
                "iOSMusic": "ding.caf",
                "iOSExtParameters": json.dumps({"order": "42"}),
                "StoreOffline": True,
                "JobKey": "spring-sale",
                "AndroidRemind": True,
                "AndroidPopupTitle": "Hello",
                "AndroidPopupBody": "From EMAS",
            },
        )
        task = task_of(body)
        assert task.name == "spring-sale"
        message = Message.objects.get(task=task)
        assert abs((message.expires_at - message.created_at) - timedelta(hours=72)) < timedelta(seconds=5)
        run_task(task)
        payload = gateways.apns.requests[-1].payload
        assert payload["aps"]["badge"] == 7 and payload["aps"]["sound"] == "ding.caf" and payload["order"] == "42"

        silent = task_of(
            sdks.call(
                kind,
                "Push",
                {
                    "AppKey": app.emas_app_key,
                    **PUSH,
                    "PushType": "MESSAGE",
                    "Target": "DEVICE",
                    "TargetValue": "huawei-1",
                },
            )
        )
        run_task(silent)
        # A pass-through message always goes through the self-built channel, never to the vendor.
        assert list(Delivery.objects.filter(message__task=silent).values_list("channel", flat=True)) == ["selfbuilt"]


def test_push_v2_notification_message_and_continuous_push(app, fleet, sdks, gateways):
    for kind in KINDS:
        key = app.emas_app_key
        notice = {
            "Target": {"Type": "DEVICE", "Value": "iphone-1", "Platform": "IOS"},
            "Notification": {
                "Title": "Order",
                "Body": "You have a new order",
                "Ios": {"Badge": 1, "ExtParameters": '{"orderId": "123456"}'},
            },
        }
        task = task_of(sdks.call(kind, "PushV2", {"AppKey": key, "PushTask": notice}))
        run_task(task)
        assert delivered(task, gateways) == {"iphone-1": "apns"}
        assert gateways.apns.requests[-1].payload["orderId"] == "123456"

        passthrough = {
            "Target": {"Type": "ALIAS", "Value": "alias-1", "Platform": "ANDROID"},
            "Message": {"Title": "Sync", "Body": "{}"},
        }
        task = task_of(sdks.call(kind, "PushV2", {"AppKey": key, "PushTask": passthrough}))
        assert Message.objects.get(task=task).payload["silent"] is True

        created = task_of(
            sdks.call(
                kind,
                "PushV2",
                {
                    "AppKey": key,
                    "PushTask": {
                        "Action": "CREATE_CONTINUOUS_PUSH",
                        "Notification": {"Title": "Sale", "Body": "20% off"},
                    },
                },
            )
        )
        assert created.status == TaskStatus.DRAFT
        batch = {
            "Action": "CONTINUOUS_PUSH",
            "Target": {"Type": "DEVICE", "Value": "iphone-1"},
            "Options": {"MessageId": created.pk},
        }
        again = task_of(sdks.call(kind, "PushV2", {"AppKey": key, "PushTask": batch}))
        assert again.pk == created.pk
        run_task(again)
        assert delivered(again, gateways) == {"iphone-1": "apns"}
        # The older continuous actions: one more batch, then complete; no batch after that.
        body = sdks.call(
            kind,
            "ContinuouslyPush",
            {"AppKey": key, "MessageId": str(created.pk), "Target": "ALIAS", "TargetValue": "alias-1"},
        )
        assert body["MessageId"] == str(created.pk)
        assert sdks.call(kind, "CompleteContinuouslyPush", {"AppKey": key, "MessageId": str(created.pk)})[
            "MessageId"
        ] == str(created.pk)
        before = Message.objects.filter(task=created).count()
        with pytest.raises(SdkError) as refused:
            sdks.call(
                kind,
                "ContinuouslyPush",
                {"AppKey": key, "MessageId": str(created.pk), "Target": "DEVICE", "TargetValue": "iphone-1"},
            )
        assert refused.value.code.startswith("InvalidParameter") and "completed" in refused.value.message
        assert Message.objects.filter(task=created).count() == before


def test_scheduled_push_is_cancelled_and_never_sent(app, fleet, sdks, gateways):
    for kind in KINDS:
        key = app.emas_app_key
        at = iso(hours=2)
        task = task_of(
            sdks.call(
                kind, "Push", {"AppKey": key, **PUSH, "Target": "DEVICE", "TargetValue": "iphone-1", "PushTime": at}
            )
        )
        assert task.status == TaskStatus.SCHEDULED and task.scheduled_at == datetime.strptime(
            at, "%Y-%m-%dT%H:%M:%SZ"
        ).replace(tzinfo=UTC)
        other = "tea" if kind == "old" else "old"  # cancelled through the other SDK
        assert set(sdks.call(other, "CancelPush", {"AppKey": key, "MessageId": task.pk})) == {"RequestId"}
        task.refresh_from_db()
        assert task.status == TaskStatus.CANCELLED
        # A worker ends its messages, as for a send cancelled on the console.
        task_stop_deliveries(task_id=task.pk)
        assert set(Message.objects.filter(task=task).values_list("state", flat=True)) == {MessageState.CANCELLED}
        from campaigns.sends.services import dispatch_due_sends

        assert dispatch_due_sends(now=timezone.now() + timedelta(hours=3)) == []
        assert gateways.apns.requests == []
        with pytest.raises(SdkError) as again:
            sdks.call(kind, "CancelPush", {"AppKey": key, "MessageId": task.pk})
        assert again.value.status == 400 and "scheduled" in again.value.message


def test_stats_by_message_and_app_equal_the_console_figures(app, fleet, sdks, gateways, client_for, marketer):
    key = app.emas_app_key
    task = task_of(
        sdks.call(
            "tea", "Push", {"AppKey": key, **PUSH, "Target": "DEVICE", "TargetValue": "iphone-1,huawei-1,plain-1"}
        )
    )
    run_task(task)
    deliveries = list(Delivery.objects.filter(message__task=task, state=MessageState.ACCEPTED))
    for d in deliveries:
        status.delivery_event(delivery=d, event="arrive")
    status.delivery_event(delivery=deliveries[0], event="click")
    status.delivery_event(delivery=deliveries[0], event="clean")
    task.refresh_from_db()
    [record] = [r for r in selectors.push_record_list(app=app)[0] if r.task.pk == task.pk]
    cleared = sum(c.cleared for c in record.channels)
    assert (task.arrived, task.opened, cleared) == (2, 1, 1)
    expected = {
        "MessageId": str(task.pk),
        "AcceptCount": task.target_count,
        "SentCount": task.succeeded,
        "ReceivedCount": task.arrived,
        "OpenedCount": task.opened,
        "DeletedCount": cleared,
    }
    for kind in KINDS:
        [stat] = sdks.call(kind, "QueryPushStatByMsg", {"AppKey": key, "MessageId": task.pk})["PushStats"]["PushStat"]
        assert {k: stat[k] for k in expected} == expected
    # The usage analysis of the console, per hour, is what QueryPushStatByApp answers.
    now = timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0)
    rows = selectors.usage_series(app=app, start=start, end=start + timedelta(hours=1), granularity="hour", tz=UTC)
    for kind in KINDS:
        stats = sdks.call(
            kind,
            "QueryPushStatByApp",
            {"AppKey": key, "Granularity": "HOUR", "StartTime": fmt(start), "EndTime": fmt(start + timedelta(hours=1))},
        )["AppPushStats"]["AppPushStat"]
        assert [
            (s["Time"], s["SentCount"], s["ReceivedCount"], s["OpenedCount"], s["DeletedCount"]) for s in stats
        ] == [(fmt(r.bucket), r.pushed, r.arrived, r.opened, r.cleared) for r in rows]
    assert rows and rows[0].arrived == 2
    # Pushes are where the console shows its own: a push to devices is a simple push, one row per
    # device in the message list; a push to a tag (accounts, aliases, all) is a broadcast, a row of
    # the task list with its figures; both are in the push records.
    tag_task = task_of(
        sdks.call(
            "old", "Push", {"AppKey": key, **PUSH, "Target": "TAG", "TargetValue": "vip", "JobKey": "emas-tag-push"}
        )
    )
    run_task(tag_task)
    assert (tag_task.push_type, tag_task.pushed, tag_task.succeeded) == ("BROADCAST", 1, 1)
    console = client_for(marketer)
    cmids = list(Message.objects.filter(task=task).values_list("customer_msg_id", flat=True))
    messages = console.get(f"/apps/{app.app_key}/messages/").content.decode()
    assert len(cmids) == 3 and all(cmid in messages for cmid in cmids)
    tasks = console.get(f"/apps/{app.app_key}/tasks/").content.decode()
    assert "emas-tag-push" in tasks and f'id="task-{tag_task.pk}"' in tasks
    records = console.get(f"/apps/{app.app_key}/push-records/").content.decode()
    assert task.name in records and "emas-tag-push" in records
    for kind in KINDS:
        records = sdks.call(
            kind,
            "QueryPushRecords",
            {"AppKey": key, "StartTime": iso(hours=-1), "EndTime": iso(hours=1), "Target": "DEVICE"},
        )
        [info] = records["PushInfos"]["PushInfo"]  # not the push to the tag
        assert (info["MessageId"], info["AppKey"], info["Title"], info["Target"], info["Source"]) == (
            str(task.pk),
            key,
            "Hello",
            "DEVICE",
            "API",
        )
        assert (records["Total"], records["Page"], records["PageSize"]) == (1, 1, 20)


def test_mass_push_creates_one_push_per_task(app, fleet, sdks, gateways):
    key = app.emas_app_key
    tasks = [
        {**PUSH, "Target": "DEVICE", "TargetValue": "iphone-1"},
        {**PUSH, "Target": "ALIAS", "TargetValue": "alias-1"},
    ]
    body = sdks.call("tea", "MassPush", {"AppKey": key, "PushTask": tasks})
    ids = body["MessageIds"]["MessageId"]
    assert len(ids) == 2
    body = sdks.call("old", "MassPush", {"AppKey": key, "PushTasks": tasks})
    assert len(body["MessageIds"]["MessageId"]) == 2
    v2 = [{"Target": {"Type": "DEVICE", "Value": "iphone-1"}, "Notification": {"Title": "A", "Body": "B"}}] * 2
    for kind in KINDS:
        assert len(sdks.call(kind, "MassPushV2", {"AppKey": key, "PushTasks": v2})["MessageIds"]) == 2
    assert PushTask.objects.filter(app=app).count() == 8
    for task in PushTask.objects.filter(pk__in=ids):
        run_task(task)
    assert sorted(v for t in PushTask.objects.filter(pk__in=ids) for v in delivered(t, gateways).values()) == [
        "apns",
        "huawei",
    ]


SHORTHANDS = [
    ("PushNoticeToAndroid", {"Target": "DEVICE", "TargetValue": "huawei-1", "ExtParameters": '{"k": "v"}'}),
    ("PushNoticeToiOS", {"Target": "DEVICE", "TargetValue": "iphone-1", "ApnsEnv": "PRODUCT"}),
    ("PushMessageToAndroid", {"Target": "ALIAS", "TargetValue": "alias-1"}),
    ("PushMessageToiOS", {"Target": "ACCOUNT", "TargetValue": "acct-1"}),
]


def test_push_shorthands_through_both_sdks(app, fleet, sdks, gateways):
    for action, params in SHORTHANDS:
        for kind in KINDS:
            task = task_of(sdks.call(kind, action, {"AppKey": app.emas_app_key, "Title": "T", "Body": "B", **params}))
            message = Message.objects.get(task=task)
            assert message.platform == ("ios" if "iOS" in action else "android")
            assert message.payload["silent"] is action.startswith("PushMessage")
    # The app's APNs credential is for production: a push asking for the sandbox is refused.
    with pytest.raises(SdkError) as refused:
        sdks.call(
            "old",
            "PushNoticeToiOS",
            {"AppKey": app.emas_app_key, "Title": "T", "Body": "B", **SHORTHANDS[1][1], "ApnsEnv": "DEV"},
        )
    assert refused.value.code == "InvalidParameter.NotSupported" and "ApnsEnv=DEV" in refused.value.message


def test_the_same_idempotent_token_at_the_same_moment_makes_one_push(app, fleet, live_server, marketer_key):
    params = {
        "AppKey": app.emas_app_key,
        **PUSH,
        "Target": "DEVICE",
        "TargetValue": "iphone-1",
        "IdempotentToken": "tok-1",
    }
    answers, errors = [], []

    def send(kind):
        try:
            answers.append(Sdks(live_server, marketer_key).call(kind, "Push", params)["MessageId"])
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(k,)) for k in ("tea", "old", "tea")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(answers)) == 1
    assert PushTask.objects.filter(app=app).count() == 1


def test_a_long_chinese_notification_fits_in_the_query_string(app, fleet, sdks):
    """Both SDKs put every parameter in the query: a 200-character CJK body with 800 more in its
    extension parameters makes a ~10 KB request line, past gunicorn's default limit."""
    body, detail = "春节大促" * 50, "限时优惠" * 200
    params = {
        "AppKey": app.emas_app_key,
        **PUSH,
        "Target": "DEVICE",
        "TargetValue": "iphone-1",
        "Body": body,
        "iOSExtParameters": json.dumps({"detail": detail}, ensure_ascii=False),
    }
    for kind in KINDS:
        task = task_of(sdks.call(kind, "Push", params))
        message = Message.objects.get(task=task)
        assert message.body == body and message.payload["extras"] == {"detail": detail}
