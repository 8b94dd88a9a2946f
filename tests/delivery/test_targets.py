"""The target table: every kind of target through every door reaches exactly the expected devices.

Each send goes in as a real caller sends it (the console forms, the signed server API, a
continuous batch), a real worker process runs the engine, and the check is what the fake
APNs (HTTP/2) and the fake Huawei Push Kit received: which device tokens got which title.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from campaigns.models import FINAL_STATES, DeviceAlias, Message, PushTask, Tag, TaskStatus
from campaigns.reports.diagnosis import troubleshoot
from tests.apiclient import SignedClient, enable_server_api
from tests.campaigns.send_fixtures import bind, make_template

from .conftest import huawei_channel, make_device, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]

# device id -> (platform, account, aliases, tags, days since logout or None)
POPULATION = {
    "a1": ("android", "acc-1", ["al-1"], ["vip"], None),
    "a2": ("android", "acc-1", ["al-2"], [], 3),
    "a3": ("android", "acc-2", [], ["vip"], 30),
    "i1": ("ios", "acc-1", ["al-1"], ["vip"], None),
    "i2": ("ios", "acc-3", ["al-2"], [], 10),
    "i3": ("ios", "", [], ["vip", "churned"], 100),
}
BINDINGS = {"u-1": ["a1", "i1"], "u-2": ["i2"]}


def _population(app):
    now = timezone.now()
    tags = {name: Tag.objects.create(app=app, name=name) for name in ("vip", "churned")}
    devices = {}
    for device_id, (platform, account, aliases, tag_names, out_days) in POPULATION.items():
        fields = {"account": account}
        if out_days is not None:
            fields.update(logged_in=False, logged_out_at=now - timedelta(days=out_days))
        if platform == "android":
            fields.update(vendor="huawei", vendor_token=f"hw-{device_id}")
        device = make_device(app, device_id, platform=platform, **fields)
        for alias in aliases:
            DeviceAlias.objects.create(app=app, device=device, alias=alias)
        for name in tag_names:
            tags[name].devices.add(device)
        devices[device_id] = device
    for user_id, ids in BINDINGS.items():
        for device_id in ids:
            bind(app, user_id, devices[device_id])
    return devices


def _form(template, label, **over):
    data = {
        "platform": "android",
        "target_kind": "all",
        "unbind_period": "1",
        "target_values": "",
        "tag_expression": "",
        "template": template.pk,
        "values": f"t={label}",
        "customer_msg_id": f"cm-{label}",
        "channel": "auto",
        "expire_seconds": "600",
        "extras": "",
        "send_at": "",
        "name": "",
        "idempotency_token": f"tok-{label}",
        "action": "submit",
    }
    data.update(over)
    return data


def _simple(label, **over):
    data = {
        "target_type": "user",
        "targets": "",
        "customer_msg_id": f"cm-{label}",
        "channel": "auto",
        "display_type": "notification",
        "display_style": "default",
        "title": label,
        "body": "b",
        "click_action": "open_app",
        "url": "",
        "expire_seconds": "600",
        "extras": "",
        "send_at": "",
        "name": "",
        "idempotency_token": f"tok-{label}",
        "action": "submit",
    }
    data.update(over)
    return data


@pytest.fixture
def engine_worker(engine_fleet, app):
    huawei_channel(app)
    engine_fleet.start(chunk_size=2)
    return engine_fleet.apns, engine_fleet.huawei, engine_fleet.logs[0]


def _received(apns, huawei) -> dict[str, list[str]]:
    """title -> device tokens it reached (every request, so a device reached twice shows twice)."""
    got: dict[str, list[str]] = defaultdict(list)
    for r in apns.requests:
        got[r.payload["aps"]["alert"]["title"]].append(r.token)
    for r in huawei.requests_to("messages:send"):
        message = r.json["message"]
        title = message["android"]["notification"]["title"]
        got[title].extend(message["token"])
    return got


def test_every_target_kind_through_every_door_reaches_exactly_the_expected_devices(
    app, marketer, client_for, engine_worker, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path
    apns, huawei, log = engine_worker
    app.approval_for_broadcast = False
    app.approval_threshold = 10_000
    app.save(update_fields=["approval_for_broadcast", "approval_threshold"])
    devices = _population(app)
    template = make_template(app, "table", title="#t#", body="Hello")
    console = client_for(marketer)
    api = SignedClient(client_for(marketer), app, private_pem=enable_server_api(app))
    tokens = {d: (f"hw-{d}" if dev.platform == "android" else dev.apns_token) for d, dev in devices.items()}
    expected: dict[str, set[str]] = {}

    def console_post(name, data, label, want):
        response = console.post(reverse(f"campaigns:{name}", kwargs={"app_key": app.app_key}), data)
        assert response.status_code == 302, (label, response.context and response.context["form"].errors)
        expected[label] = want

    def api_post(path, payload, label, want):
        response = api.post(f"/api/v1/{path}", {"taskName": label, **payload})
        assert response.status_code == 200 and response.json()["resultCode"] == 100, (label, response.json())
        expected[label] = want

    # Console: per-target sends.
    console_post("send-simple", _simple("c-user", target_type="user", targets="u-1\nu-2"), "c-user", {"a1", "i1", "i2"})
    console_post("send-simple", _simple("c-adev", target_type="android_device", targets="a2"), "c-adev", {"a2"})
    console_post("send-simple", _simple("c-idev", target_type="ios_device", targets="i3\na1"), "c-idev", {"i3"})
    # Console broadcasts: every group kind, unbind periods, a .txt file of accounts listing one twice.
    console_post("send-broadcast", _form(template, "c-all1"), "c-all1", {"a1"})
    console_post("send-broadcast", _form(template, "c-all2", unbind_period="2"), "c-all2", {"a1", "a2"})
    console_post("send-broadcast", _form(template, "c-all4", unbind_period="4"), "c-all4", {"a1", "a2", "a3"})
    console_post("send-broadcast", _form(template, "c-ios3", platform="ios", unbind_period="3"), "c-ios3", {"i1", "i2"})
    console_post(
        "send-broadcast", _form(template, "c-ios5", platform="ios", unbind_period="5"), "c-ios5", {"i1", "i2", "i3"}
    )
    console_post(
        "send-broadcast",
        _form(template, "c-acc", target_kind="account", target_values="acc-1\nacc-2\nacc-1"),
        "c-acc",
        {"a1", "a2", "a3"},
    )
    console_post(
        "send-broadcast",
        _form(template, "c-alias", platform="ios", target_kind="alias", target_values="al-1\nal-2"),
        "c-alias",
        {"i1", "i2"},
    )
    console_post(
        "send-broadcast",
        _form(
            template, "c-tag", platform="ios", target_kind="tag", tag_expression='{"and": ["vip", {"not": "churned"}]}'
        ),
        "c-tag",
        {"i1"},
    )
    txt = SimpleUploadedFile("ids.txt", "\ufeffal-2\r\nal-1\nal-2\n".encode())
    console_post(
        "send-broadcast",
        {**_form(template, "c-txt", target_kind="alias"), "targets_file": txt},
        "c-txt",
        {"a1", "a2"},
    )
    # Server API.
    simple = {"title": "", "body": "b", "expiredSeconds": 600}
    api_post(
        "push/simple",
        {**simple, "title": "s-user", "deliveryType": 3, "targetMsgkey": {"u-1": "k1"}},
        "s-user",
        {"a1", "i1"},
    )
    api_post(
        "push/simple", {**simple, "title": "s-adev", "deliveryType": 1, "targetMsgkey": {"a3": "k2"}}, "s-adev", {"a3"}
    )
    api_post(
        "push/simple", {**simple, "title": "s-idev", "deliveryType": 2, "targetMsgkey": {"i2": "k3"}}, "s-idev", {"i2"}
    )
    broadcast = {"templateName": "table", "expiredSeconds": 600}
    api_post(
        "push/broadcast",
        {
            **broadcast,
            "templateKeyValue": {"t": "s-acc"},
            "deliveryType": 2,
            "target": "account",
            "targetValue": ["acc-1", "acc-3", "acc-3"],
        },
        "s-acc",
        {"i1", "i2"},
    )
    api_post(
        "push/broadcast",
        {
            **broadcast,
            "templateKeyValue": {"t": "s-alias"},
            "deliveryType": 1,
            "target": "alias",
            "targetValue": ["al-1"],
        },
        "s-alias",
        {"a1"},
    )
    api_post(
        "push/broadcast",
        {
            **broadcast,
            "templateKeyValue": {"t": "s-tag"},
            "deliveryType": 1,
            "target": "tag",
            "targetValue": {"tag": "vip"},
        },
        "s-tag",
        {"a1", "a3"},
    )
    api_post(
        "push/broadcast",
        {
            **broadcast,
            "templateKeyValue": {"t": "s-all"},
            "deliveryType": 2,
            "target": "all",
            "pushStatus": 1,
            "unBindPeriod": 1,
        },
        "s-all",
        {"i1"},
    )
    nobody = api.post(
        "/api/v1/push/broadcast",
        {
            "taskName": "s-nobody",
            **broadcast,
            "templateKeyValue": {"t": "s-nobody"},
            "deliveryType": 1,
            "target": "account",
            "targetValue": ["acc-none"],
        },
    ).json()
    # Continuous: one message created, three batches (devices with one listed twice, accounts, aliases).
    created = api.post(
        "/api/v1/push/continuous", {"taskName": "k-cont", "title": "k-cont", "body": "b", "expiredSeconds": 600}
    ).json()
    message_id = created["pushResult"]["messageId"]
    for target, values in (("device", ["a1", "i3", "a1"]), ("account", ["acc-2"]), ("alias", ["al-2", "al-2"])):
        reply = api.post(
            "/api/v1/push/continuous", {"messageId": message_id, "target": target, "targetValue": values}
        ).json()
        assert reply["resultCode"] == 100, reply
    expected["k-cont"] = {"a1", "i3", "a3", "a2", "i2"}

    tasks = PushTask.objects.filter(app=app)

    def all_done():
        return (
            not Message.objects.filter(app=app).exclude(state__in=FINAL_STATES).exists()
            and not tasks.exclude(status=TaskStatus.FINISHED).exists()
        )

    assert wait_for(all_done, timeout=120), (
        list(tasks.values_list("name", "status")),
        list(Message.objects.filter(app=app).exclude(state__in=FINAL_STATES).values_list("target_type", "state")),
        log.read_text()[-3000:],
    )
    got = _received(apns, huawei)
    for label, want in expected.items():
        reached = got.get(label, [])
        assert sorted(reached) == sorted(tokens[d] for d in want), (label, reached, want)
    assert set(got) == set(expected), set(got) ^ set(expected)

    # A continuous task with several fan-out batches finishes; its figures count every push once.
    continuous = PushTask.objects.get(pk=message_id)
    assert continuous.status == TaskStatus.FINISHED and continuous.succeeded == 5
    # The troubleshooter names the kind of target that matched nothing.
    missed = Message.objects.get(pk=int(next(iter(nobody["pushResult"]["messageIds"].values()))))
    findings = troubleshoot(app=app, message_ref=str(missed.pk)).findings
    assert any("Account" in f.text and "user id" not in f.text for f in findings), [f.text for f in findings]
