"""Fan-out, channel choice and statuses: the real engine and gateways against the local fake services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.codes import PushStatus
from campaigns.delivery import dispatch, limits
from campaigns.delivery.status import DEAD_TOKEN_REASON
from campaigns.models import (
    Channel,
    Delivery,
    Device,
    Message,
    MessageState,
    PushType,
    StatusEvent,
    TargetType,
    TaskStatus,
    UsageRollup,
    UserBinding,
)
from console.models import ApnsCertificate, VendorChannel
from tests.fakes.apns import Answer

from .conftest import huawei_channel, make_broadcast, make_device, make_task, run_task

pytestmark = pytest.mark.django_db


def test_ios_messages_are_accepted_through_apns_with_one_final_status_and_a_timeline(app, gateways):
    devices = [make_device(app, platform="ios") for _ in range(3)]
    task = make_task(app, [d.device_id for d in devices], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    assert task.status == TaskStatus.FINISHED
    assert (task.pushed, task.succeeded, task.failed, task.arrived) == (3, 3, 0, 3)
    for message in Message.objects.filter(task=task):
        assert (message.state, message.status, message.channel) == (MessageState.ACCEPTED, PushStatus.ACKED, "apns")
        timeline = list(StatusEvent.objects.filter(message=message).values_list("state", flat=True))
        assert timeline[0] == MessageState.ACCEPTED  # delivery line, then the message's final line
        assert timeline.count(MessageState.ACCEPTED) == 2
    sent = gateways.apns_ids()
    assert sorted(sent) == sorted(str(d.push_id) for d in Delivery.objects.filter(message__task=task))
    assert {r.headers["apns-topic"] for r in gateways.apns.requests} == {app.ios_bundle_id}
    assert {r.auth for r in gateways.apns.requests} == {"certificate"}
    assert {r.token for r in gateways.apns.requests} == {d.apns_token for d in devices}
    rollup = UsageRollup.objects.get(app=app, granularity="hour", channel="apns")
    assert (rollup.pushed, rollup.arrived, rollup.platform, rollup.push_type) == (3, 3, "ios", PushType.TEMPLATE)


def test_channel_choice_vendor_when_configured_else_self_built_and_silent_always_self_built(app, gateways):
    package = huawei_channel(app).package
    VendorChannel.objects.create(app=app, package=package, vendor="xiaomi", enabled=False)
    huawei = make_device(app, "hw1", vendor="huawei", vendor_token="ok-hw")
    xiaomi = make_device(app, "xm1", vendor="xiaomi", vendor_token="ok-xm")
    other_package = make_device(app, "hw2", vendor="huawei", vendor_token="ok-hw2", package_name="com.other")
    plain = make_device(app, "plain1")
    ids = ["hw1", "xm1", "hw2", "plain1"]
    task = make_task(app, ids, target_type=TargetType.ANDROID_DEVICE)
    run_task(task)
    channels = dict(Delivery.objects.filter(message__task=task).values_list("device__device_id", "channel"))
    assert channels == {"hw1": "huawei", "xm1": "selfbuilt", "hw2": "selfbuilt", "plain1": "selfbuilt"}
    assert gateways.huawei_tokens() == ["ok-hw"]
    # Self-built deliveries wait for the device (status 0): the task is not finished.
    assert task.status == TaskStatus.RUNNING
    waiting = Delivery.objects.get(device=plain)
    assert (waiting.state, waiting.status) == (MessageState.WAITING, PushStatus.DEVICE_NOT_ONLINE)
    assert huawei and xiaomi and other_package

    silent = make_task(app, ["hw1"], target_type=TargetType.ANDROID_DEVICE, payload={"display_type": "silent"})
    run_task(silent)
    assert Delivery.objects.get(message__task=silent).channel == Channel.SELF_BUILT
    forced = make_task(app, ["hw1"], target_type=TargetType.ANDROID_DEVICE, payload={"android_channel": "selfbuilt"})
    run_task(forced)
    assert Delivery.objects.get(message__task=forced).channel == Channel.SELF_BUILT
    assert gateways.huawei_tokens() == ["ok-hw"]
    assert Delivery.objects.get(device=huawei, message__task=task).state == MessageState.ACCEPTED


def test_sandbox_app_goes_through_the_sandbox_gateway(app, gateways):
    app.sandbox = True
    app.save()
    make_device(app, "s1", vendor="huawei", vendor_token="ok-s1")
    task = make_task(app, ["s1"])
    run_task(task)
    assert Delivery.objects.get(message__task=task).channel == Channel.SANDBOX
    assert task.status == TaskStatus.FINISHED


def test_user_without_binding_gets_no_bind_info_and_bound_users_reach_every_device(app, gateways):
    a = make_device(app, "a1", platform="ios")
    b = make_device(app, "b1", platform="ios")
    UserBinding.objects.create(app=app, user_id="alice", device=a)
    UserBinding.objects.create(app=app, user_id="alice", device=b)
    task = make_task(app, ["alice", "nobody"], target_type=TargetType.USER)
    run_task(task)
    alice = Message.objects.get(task=task, target_id="alice")
    nobody = Message.objects.get(task=task, target_id="nobody")
    assert alice.deliveries.count() == 2 and alice.state == MessageState.ACCEPTED
    assert (nobody.state, nobody.status) == (MessageState.WAITING, PushStatus.NO_BIND_INFO)
    # Unfinished (waiting for a binding until expiry): never marked finished.
    assert task.status == TaskStatus.RUNNING


def test_dead_token_is_marked_then_skipped_and_counted(app, gateways):
    dead = make_device(app, "d1", platform="ios", apns_token="dead" + "0" * 60)
    gateways.apns.script[dead.apns_token] = Answer(410, "Unregistered")
    task = make_task(app, ["d1"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    delivery = Delivery.objects.get(message__task=task)
    assert (delivery.state, delivery.status, delivery.gateway_code) == (MessageState.FAILED, 2011, 2011)
    dead.refresh_from_db()
    assert dead.token_dead_at is not None and "Unregistered" in dead.token_dead_reason
    message = Message.objects.get(task=task)
    assert message.status == 2011 and "Unregistered" in message.status_desc
    assert task.status == TaskStatus.FINISHED and task.failed == 1

    again = make_task(app, ["d1"], target_type=TargetType.IOS_DEVICE)
    run_task(again)
    assert len(gateways.apns.requests) == 1, "a dead token is not sent again"
    skipped = Delivery.objects.get(message__task=again)
    assert skipped.state == MessageState.FAILED and skipped.gateway_reason.startswith(DEAD_TOKEN_REASON)
    assert again.failed == 1
    assert Delivery.objects.filter(gateway_reason__startswith=DEAD_TOKEN_REASON).count() == 1


def test_permanent_error_is_final_and_not_retried(app, gateways):
    make_device(app, "big1", platform="ios", apns_token="b16" + "0" * 61)
    gateways.apns.script["b16" + "0" * 61] = Answer(413, "PayloadTooLarge")
    task = make_task(app, ["big1"], target_type=TargetType.IOS_DEVICE)
    retries = run_task(task)
    assert retries == []
    message = Message.objects.get(task=task)
    assert (message.state, message.status) == (MessageState.FAILED, 2002)
    assert "PayloadTooLarge" in message.status_desc
    assert len(gateways.apns.requests) == 1


def test_transient_error_comes_back_for_retry_with_retry_after(app, gateways, settings):
    settings.PUSHDECK_RETRY_BASE_SECONDS = 5.0
    make_device(app, "busy1", platform="ios", apns_token="b5" + "0" * 62)
    gateways.apns.script["b5" + "0" * 62] = [Answer(429, "TooManyRequests", retry_after=9), Answer()]
    task = make_task(app, ["busy1"], target_type=TargetType.IOS_DEVICE)
    retries = run_task(task)
    assert len(retries) == 1 and retries[0].retry_after == 9.0, "Retry-After wins over a shorter backoff"
    delivery = Delivery.objects.get(message__task=task)
    assert delivery.state == MessageState.QUEUED and delivery.attempts == 1 and delivery.next_attempt_at is None
    assert task.status == TaskStatus.RUNNING
    event = StatusEvent.objects.get(delivery=delivery, description__startswith="retrying, attempt 2, next at ")
    assert "TooManyRequests" in event.description
    message = Message.objects.get(task=task)
    assert message.status_desc == event.description and message.status == PushStatus.DEVICE_NOT_ONLINE
    dispatch.chunk_deliver(task_id=task.pk, delivery_ids=retries[0].delivery_ids)
    delivery.refresh_from_db()
    task.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (MessageState.ACCEPTED, 2)
    assert task.status == TaskStatus.FINISHED


def test_transient_error_on_the_last_attempt_is_final(app, gateways):
    make_device(app, "busy2", platform="ios", apns_token="b5" + "1" * 62)
    gateways.apns.script["b5" + "1" * 62] = Answer(429, "TooManyRequests", retry_after=1)
    task = make_task(app, ["busy2"], target_type=TargetType.IOS_DEVICE)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    retry = dispatch.chunk_deliver(**chunks[0], final_attempt=True)
    assert retry.delivery_ids == []
    message = Message.objects.get(task=task)
    assert message.state == MessageState.FAILED and "TooManyRequests" in message.status_desc


def test_expired_apns_certificate_fails_ios_messages_with_a_clear_status(app, gateways):
    now = timezone.now()
    ApnsCertificate.objects.filter(app=app).update(is_active=False)
    ApnsCertificate.objects.create(
        app=app,
        p12=b"p12",
        environment="production",
        topic=app.ios_bundle_id,
        subject="s",
        issuer="i",
        serial="1",
        not_before=now - timedelta(days=400),
        not_after=now - timedelta(days=1),
        fingerprint="f",
        is_active=True,
    )
    make_device(app, "i1", platform="ios")
    task = make_task(app, ["i1"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    message = Message.objects.get(task=task)
    assert (message.state, message.status) == (MessageState.FAILED, 2014)
    assert "expired" in message.status_desc
    assert gateways.apns.requests == []
    assert task.status == TaskStatus.FINISHED


def test_chunk_run_twice_sends_nothing_twice(app, gateways):
    for i in range(5):
        make_device(app, f"r{i}", platform="ios")
    task = make_task(app, [f"r{i}" for i in range(5)], target_type=TargetType.IOS_DEVICE)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    for _ in range(2):
        for kwargs in chunks:
            dispatch.chunk_deliver(**kwargs)
    assert len(gateways.apns.requests) == 5
    assert Delivery.objects.filter(message__task=task).count() == 5
    assert StatusEvent.objects.filter(message__task=task, delivery__isnull=True).count() == 5


def test_stopped_task_cancels_its_remaining_chunks(app, gateways):
    make_device(app, "x1", platform="ios")
    task = make_task(app, ["x1"], target_type=TargetType.IOS_DEVICE)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    type(task).objects.filter(pk=task.pk).update(status=TaskStatus.STOPPED)
    dispatch.chunk_deliver(**chunks[0])
    assert gateways.apns.requests == []
    assert Message.objects.get(task=task).state == MessageState.CANCELLED


def test_broadcast_is_split_into_chunks_and_finishes_when_every_device_is_final(app, gateways, settings):
    settings.PUSHDECK_CHUNK_SIZE = 4
    for i in range(10):
        make_device(app, f"b{i}", platform="ios")
    make_device(app, "android1")
    task = make_broadcast(app)
    chunks = dispatch.task_dispatch(task_id=task.pk)
    assert len(chunks) == 3
    dispatch.chunks_enqueued(chunks)
    dispatch.chunk_deliver(**chunks[0])
    task.refresh_from_db()
    message = Message.objects.get(task=task)
    assert message.state not in (MessageState.ACCEPTED,) and task.status == TaskStatus.RUNNING
    for kwargs in chunks[1:]:
        dispatch.chunk_deliver(**kwargs)
    task.refresh_from_db()
    message.refresh_from_db()
    assert task.status == TaskStatus.FINISHED and message.state == MessageState.ACCEPTED
    assert len(gateways.apns.requests) == 10 and task.succeeded == 10


def test_device_unknown_fails_clearly(app, gateways):
    task = make_task(app, ["ghost"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    message = Message.objects.get(task=task)
    assert (message.state, message.status_desc) == (MessageState.FAILED, "device unknown")
    assert not Device.objects.filter(device_id="ghost").exists()


def test_stopping_a_task_cancels_messages_still_waiting_for_devices(app, gateways):
    make_device(app, "w1")
    make_device(app, "w2", platform="ios")
    task = make_task(app, ["w1", "w2"])
    run_task(task)
    assert dispatch.task_stop_deliveries(task_id=task.pk) == 0, "a running task is not stopped by this"
    type(task).objects.filter(pk=task.pk).update(status=TaskStatus.STOPPED)
    assert dispatch.task_stop_deliveries(task_id=task.pk) == 1
    states = dict(Message.objects.filter(task=task).values_list("target_id", "state"))
    assert states == {"w1": MessageState.CANCELLED, "w2": MessageState.ACCEPTED}
    task.refresh_from_db()
    assert task.status == TaskStatus.STOPPED


def test_channel_without_credentials_fails_its_messages_clearly(app, gateways):
    ApnsCertificate.objects.filter(app=app).delete()
    make_device(app, "nog", platform="ios")
    task = make_task(app, ["nog"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    message = Message.objects.get(task=task)
    assert message.state == MessageState.FAILED and "apns unavailable" in message.status_desc
    assert "certificate not configured" in message.status_desc
    assert task.status == TaskStatus.FINISHED
    assert gateways.apns.requests == []


def test_certificate_refused_by_apns_fails_with_the_gateway_reason(app, gateways, pki):
    # A certificate for another bundle id, stored with this app's topic: APNs answers 400
    # TopicDisallowed per message (the topic sent is the credential's).
    cert = gateways.certificate
    other = pki.client_cert("com.other.app")
    ApnsCertificate.objects.filter(pk=cert.pk).delete()
    ApnsCertificate.objects.create(
        app=app,
        p12=other.p12,
        password=other.password,
        environment="production",
        topic=app.ios_bundle_id,
        subject="Apple Push Services: com.other.app",
        issuer="Pushdeck Test CA",
        serial="2",
        not_before=cert.not_before,
        not_after=cert.not_after,
        fingerprint="other",
        is_active=True,
    )
    make_device(app, "t1", platform="ios")
    task = make_task(app, ["t1"], target_type=TargetType.IOS_DEVICE)
    run_task(task)
    message = Message.objects.get(task=task)
    assert (message.state, message.status) == (MessageState.FAILED, 2004)
    assert "TopicDisallowed" in message.status_desc
    assert len(gateways.apns.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_outcomes_reach_the_prometheus_counters(app, gateways, client, settings):
    settings.METRICS_TOKEN = "metrics-test-token"
    devices = [make_device(app, platform="ios") for _ in range(2)]
    run_task(make_task(app, [d.device_id for d in devices], target_type=TargetType.IOS_DEVICE))
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-test-token").content.decode()
    line = next(
        line for line in body.splitlines() if line.startswith("pushdeck_deliveries_total{") and 'channel="apns"' in line
    )
    assert 'outcome="accepted"' in line and float(line.rsplit(" ", 1)[1]) >= 2


def _chunk_statements(app, prefix: str, n: int) -> int:
    devices = [make_device(app, f"{prefix}{i:03d}", platform="ios") for i in range(n)]
    task = make_task(app, [d.device_id for d in devices], target_type=TargetType.IOS_DEVICE)
    (chunk,) = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued([chunk])
    with CaptureQueriesContext(connection) as captured:
        dispatch.chunk_deliver(**chunk)
    assert set(Message.objects.filter(task=task).values_list("state", flat=True)) == {MessageState.ACCEPTED}
    return len(captured)


def test_a_chunk_runs_the_same_statements_for_10_messages_as_for_200(app, gateways, settings):
    # A column the send reads but did not load would cost a statement per message (a deferred field).
    settings.PUSHDECK_GATEWAY_BATCH = 500
    _chunk_statements(app, "first", 1)  # the first send also notes that the credential works
    small, big = _chunk_statements(app, "few", 10), _chunk_statements(app, "many", 200)
    assert small == big, (small, big)
    assert len(gateways.apns_ids()) == 211


def test_a_chunk_that_finds_its_channel_busy_hands_its_rows_to_the_retry_which_sends_each_once(
    app, gateways, settings, clean_broker
):
    settings.PUSHDECK_CHANNEL_CONCURRENCY = 1
    devices = [make_device(app, f"busy{i:02d}", platform="ios") for i in range(30)]
    task = make_task(app, [d.device_id for d in devices], target_type=TargetType.IOS_DEVICE)
    (chunk,) = dispatch.task_dispatch(task_id=task.pk)
    dispatch.chunks_enqueued([chunk])
    with limits.channel_slot(app.pk, Channel.APNS), pytest.raises(limits.SlotsBusy) as busy:
        dispatch.chunk_deliver(**chunk)
    rows = Delivery.objects.filter(message__task=task)
    assert sorted(busy.value.delivery_ids) == sorted(rows.values_list("pk", flat=True)) and rows.count() == 30
    assert set(rows.values_list("state", flat=True)) == {MessageState.QUEUED}, "built, not claimed"
    assert gateways.apns_ids() == []
    # The chunk comes back twice (the retry, and the original redelivered): every row goes once.
    dispatch.chunk_deliver(task_id=task.pk, delivery_ids=busy.value.delivery_ids)
    dispatch.chunk_deliver(**chunk)
    assert sorted(gateways.apns_ids()) == sorted(str(p) for p in rows.values_list("push_id", flat=True))
    assert set(Message.objects.filter(task=task).values_list("state", flat=True)) == {MessageState.ACCEPTED}
