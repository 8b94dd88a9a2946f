"""The vendor channels end to end: the real engine and gateways, credentials from the database, and
fakes that answer as each vendor's published protocol does (GATEWAYS.md). Every test ends at the
fake's log and the stored statuses."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from campaigns.delivery import dispatch
from campaigns.gateways.common import seconds_to_next_vendor_day
from campaigns.gateways.factory import close_all
from campaigns.models import Delivery, Device, Message, MessageState, TargetType
from campaigns.reports.diagnosis import troubleshoot
from console.models import ChannelPackage, VendorChannel
from tests.fakes.vendors import FakeHonor, FakeHuawei, FakeMeizu, FakeOppo, FakeVivo, FakeXiaomi

from .conftest import make_broadcast, make_device, make_task, run_task

pytestmark = pytest.mark.django_db

VENDORS = ["huawei", "xiaomi", "oppo", "vivo", "honor", "meizu"]


@dataclass
class VendorEnv:
    name: str
    fake: Any
    channel: VendorChannel
    send_suffix: str  # the path of the call that carries the tokens

    def sends(self) -> list:
        return self.fake.requests_to(self.send_suffix)

    def message_ids(self) -> set[str]:
        """The message ids the fake handed out in its answers (GATEWAYS.md: where each vendor puts it)."""
        ids = set()
        for reply in self.fake.answers_to(self.send_suffix) + self.fake.answers_to("/save_message_content"):
            body = reply.body if isinstance(reply.body, dict) else {}
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            for value in (
                body.get("requestId"),
                body.get("taskId"),
                body.get("msgId"),
                data.get("id"),
                data.get("messageId"),
                data.get("message_id"),
                data.get("requestId"),
            ):
                if value:
                    ids.add(str(value))
        return ids


CREDENTIALS = {
    "huawei": ("10086", "", {"app_secret": "hw-secret"}),
    "xiaomi": ("", "", {"app_secret": "mi-secret"}),
    "oppo": ("", "oppo-key", {"master_secret": "oppo-master"}),
    "vivo": ("1001", "vivo-key", {"master_secret": "vivo-secret"}),
    "honor": ("104400", "honor-client", {"client_secret": "honor-secret"}),
    "meizu": ("110", "", {"app_secret": "mz-secret"}),
}
WRONG = {"app_secret": "wrong", "master_secret": "wrong", "client_secret": "wrong"}


def _start_fake(name: str, app, settings):
    if name == "huawei":
        fake = FakeHuawei(app_id="10086", app_secret="hw-secret").start()
        settings.HUAWEI_URL, settings.HUAWEI_TOKEN_URL = fake.url, fake.token_url
        return fake, "messages:send"
    if name == "xiaomi":
        fake = FakeXiaomi(app_secret="mi-secret", package_name=app.android_package).start()
        settings.XIAOMI_URL = fake.url
        return fake, "/v3/message/regid"
    if name == "oppo":
        fake = FakeOppo(app_key="oppo-key", master_secret="oppo-master").start()
        settings.OPPO_URL = fake.url
        return fake, ""  # unicast or broadcast: see sends()
    if name == "vivo":
        fake = FakeVivo(app_id="1001", app_key="vivo-key", app_secret="vivo-secret").start()
        settings.VIVO_URL = fake.url
        return fake, ""
    if name == "honor":
        fake = FakeHonor(app_id="104400", client_id="honor-client", client_secret="honor-secret").start()
        settings.HONOR_URL, settings.HONOR_TOKEN_URL = fake.url, fake.token_url
        return fake, "/sendMessage"
    fake = FakeMeizu(app_id="110", app_secret="mz-secret").start()
    settings.MEIZU_URL = fake.url
    return fake, "/pushByPushId"


class _MultiPathEnv(VendorEnv):
    """OPPO and vivo: one device goes by unicast / send, many by a saved payload + broadcast / pushToList."""

    paths = {"oppo": ("/unicast", "/broadcast"), "vivo": ("/message/send", "/pushToList")}

    def sends(self) -> list:
        return [r for p in self.paths[self.name] for r in self.fake.requests_to(p)]

    def message_ids(self) -> set[str]:
        ids = set()
        for path in (*self.paths[self.name], "/save_message_content", "/saveListPayload"):
            self.send_suffix = path
            ids |= VendorEnv.message_ids(self)
        return ids


@pytest.fixture
def vendor(request, app, settings, pki):
    name = request.param
    close_all()
    settings.GATEWAY_CA_BUNDLE = pki.ca_file
    settings.GATEWAY_TIMEOUT = 5.0
    fake, suffix = _start_fake(name, app, settings)
    app_id, app_key, secrets = CREDENTIALS[name]
    package, _ = ChannelPackage.objects.get_or_create(
        app=app, package_name=app.android_package, defaults={"is_main": True}
    )
    channel = VendorChannel.objects.create(
        app=app,
        package=package,
        vendor=name,
        enabled=True,
        vendor_app_id=app_id,
        vendor_app_key=app_key,
        secrets=json.dumps(secrets),
        fingerprint=uuid.uuid4().hex,
    )
    env_class = _MultiPathEnv if name in ("oppo", "vivo") else VendorEnv
    try:
        yield env_class(name, fake, channel, suffix)
    finally:
        close_all()
        fake.stop()


def _devices(app, vendor: str, tokens: list[str]) -> list[Device]:
    return [make_device(app, f"{vendor}-{t}", vendor=vendor, vendor_token=t) for t in tokens]


def _broadcast(app, **kw):
    return make_broadcast(app, platform="android", **kw)


@pytest.mark.parametrize("vendor", VENDORS, indirect=True)
def test_partly_invalid_batch_marks_the_refused_token_dead_and_keeps_the_vendor_message_id(app, vendor):
    if vendor.name == "meizu":
        vendor.fake.unregistered.add("tok-dead")
    else:
        vendor.fake.invalid_tokens.add("tok-dead")
    good, dead = _devices(app, vendor.name, ["tok-good", "tok-dead"])
    task = _broadcast(app)
    run_task(task)

    (call,) = vendor.sends()  # one call carried both tokens; the refusal came inside the success answer
    issued = vendor.message_ids()
    accepted = Delivery.objects.get(device=good)
    refused = Delivery.objects.get(device=dead)
    assert accepted.state == MessageState.ACCEPTED and accepted.gateway_message_id in issued
    assert refused.state == MessageState.FAILED and refused.gateway_code is not None
    dead.refresh_from_db()
    good.refresh_from_db()
    assert dead.token_dead_at is not None and good.token_dead_at is None

    # the next push does not call the vendor for the dead token again
    seen = len(vendor.fake.requests)
    run_task(_broadcast(app))
    tokens_sent = " ".join(r.body.decode() for r in vendor.fake.requests[seen:])
    assert "tok-good" in tokens_sent and "tok-dead" not in tokens_sent


@pytest.mark.parametrize("vendor", VENDORS, indirect=True)
def test_5xx_is_retried_and_the_final_status_carries_the_vendors_code(app, vendor):
    code = {"huawei": 81000001, "xiaomi": 10001, "oppo": -1, "vivo": 10001, "honor": 81000001, "meizu": 1001}[
        vendor.name
    ]
    body = {
        "huawei": {"code": str(code), "msg": "Internal error"},
        "xiaomi": {"result": "error", "code": code, "reason": "system error", "description": "system error"},
        "oppo": {"code": code, "message": "Service Currently Unavailable"},
        "vivo": {"result": code, "desc": "system error"},
        "honor": {"code": code, "message": "internal error"},
        "meizu": {"code": str(code), "message": "system error", "value": None},
    }[vendor.name]
    vendor.fake.fail_next(500, body)
    vendor.fake.fail_next(500, body)
    _devices(app, vendor.name, ["tok-1"])
    task = make_task(app, [f"{vendor.name}-tok-1"], target_type=TargetType.ANDROID_DEVICE)
    (retry,) = run_task(task)
    delivery = Delivery.objects.get(message__task=task)
    assert delivery.state == MessageState.QUEUED, "a 5xx comes back for another try"
    dispatch.chunk_deliver(task_id=task.pk, delivery_ids=retry.delivery_ids, final_attempt=True)
    delivery.refresh_from_db()
    message = Message.objects.get(task=task)
    assert (delivery.state, delivery.status, delivery.gateway_code) == (MessageState.FAILED, code, code)
    assert message.status == code and str(code) in message.status_desc
    assert len(vendor.sends()) == 2


QUOTA = {
    # vendor: (answer body, the daily quota is over until tomorrow)
    "vivo": ({"result": 10070, "desc": "超过当日推送总量"}, True),
    "xiaomi": ({"result": "error", "code": 200001, "reason": "daily quota exceeded", "description": ""}, True),
    "oppo": ({"code": 33, "message": "The number of messages exceeds the daily limit"}, True),
    "meizu": ({"code": "110010", "message": "请求频率过快", "value": None}, False),
}


@pytest.mark.parametrize("vendor", list(QUOTA), indirect=True)
def test_quota_answers_are_retried_within_the_messages_validity_or_end_expired_saying_why(app, vendor):
    body, next_day = QUOTA[vendor.name]
    vendor.fake.fail_next(200, body)
    _devices(app, vendor.name, ["tok-q"])
    task = make_task(app, [f"{vendor.name}-tok-q"], target_type=TargetType.ANDROID_DEVICE, expires_in=3 * 3600)
    retries = run_task(task)
    delivery = Delivery.objects.get(message__task=task)
    if next_day:
        # the quota opens again tomorrow (Beijing): after this 3-hour message expires, unless the
        # day turns within 3 hours; then it waits for the day in the queue or parked
        expires = Message.objects.get(task=task).expires_at
        if timezone.now() + timedelta(seconds=seconds_to_next_vendor_day()) < expires:
            assert delivery.state == MessageState.QUEUED
            retry_at = (
                timezone.now() + timedelta(seconds=retries[0].retry_after) if retries else delivery.next_attempt_at
            )
            assert retry_at is not None and retry_at < expires
        else:
            assert delivery.state == MessageState.EXPIRED
            assert "after the message expires" in delivery.gateway_reason and delivery.gateway_code is not None
            assert Message.objects.get(task=task).state == MessageState.EXPIRED
    else:
        (retry,) = retries
        assert delivery.state == MessageState.QUEUED and 0 < retry.retry_after <= 3600
        dispatch.chunk_deliver(task_id=task.pk, delivery_ids=retry.delivery_ids)
        delivery.refresh_from_db()
        assert delivery.state == MessageState.ACCEPTED
    assert len(vendor.sends()) == (1 if next_day else 2)


@pytest.mark.parametrize("vendor", ["vivo"], indirect=True)
def test_vivo_daily_quota_on_a_short_lived_message_ends_expired_with_the_reason(app, vendor):
    vendor.fake.fail_next(200, {"result": 10070, "desc": "超过当日推送总量"})
    _devices(app, "vivo", ["tok-q"])
    task = make_task(app, ["vivo-tok-q"], target_type=TargetType.ANDROID_DEVICE, expires_in=180)
    assert run_task(task) == []  # not parked until tomorrow
    delivery = Delivery.objects.get(message__task=task)
    message = Message.objects.get(task=task)
    assert delivery.state == MessageState.EXPIRED and delivery.gateway_code == 10070
    assert message.state == MessageState.EXPIRED and "10070" in message.status_desc
    assert "after the message expires" in message.status_desc
    assert len(vendor.sends()) == 1


@pytest.mark.parametrize("vendor", VENDORS, indirect=True)
def test_wrong_secret_turns_the_health_row_red_with_the_vendors_words_and_a_good_send_clears_it(
    app, vendor, client_for, channel_admin
):
    VendorChannel.objects.filter(pk=vendor.channel.pk).update(secrets=json.dumps(WRONG), updated_at=timezone.now())
    _devices(app, vendor.name, ["tok-1"])
    run_task(make_task(app, [f"{vendor.name}-tok-1"], target_type=TargetType.ANDROID_DEVICE))
    vendor.channel.refresh_from_db()
    said = vendor.channel.last_error
    assert said and vendor.channel.last_error_at is not None
    expected = {
        "huawei": "invalid client secret",
        "xiaomi": "21301",
        "oppo": "Invalid Sign",
        "vivo": "sign error",
        "honor": "invalid_client",
        "meizu": "1006",
    }[vendor.name]
    assert expected in said
    browser = client_for(channel_admin)
    for url in (f"/apps/{app.app_key}/push-config/", f"/apps/{app.app_key}/"):
        html = browser.get(url).content.decode()
        row = _health_row(html, vendor.channel.get_vendor_display())
        assert 'class="pill failing"' in row and expected in row
        assert "wrong" not in row, "the secret never reaches the page"

    VendorChannel.objects.filter(pk=vendor.channel.pk).update(
        secrets=json.dumps(CREDENTIALS[vendor.name][2]), updated_at=timezone.now()
    )
    run_task(make_task(app, [f"{vendor.name}-tok-1"], target_type=TargetType.ANDROID_DEVICE))
    vendor.channel.refresh_from_db()
    assert vendor.channel.last_error == "" and vendor.channel.last_error_at is None
    html = browser.get(f"/apps/{app.app_key}/push-config/").content.decode()
    assert 'class="pill ok"' in _health_row(html, vendor.channel.get_vendor_display())


def _health_row(html: str, kind: str) -> str:
    table = html.split('data-testid="credential-health"', 1)[1].split("</table>", 1)[0]
    rows = [r for r in table.split("<tr>") if f"<td>{kind}</td>" in r]
    assert rows, f"no health row for {kind}"
    return rows[0]


@pytest.mark.parametrize("vendor", ["meizu"], indirect=True)
@pytest.mark.parametrize("engine_batch", [1000, 100, 30])
def test_250_meizu_devices_go_out_as_3_requests_whatever_the_engine_batch(app, vendor, settings, engine_batch):
    settings.PUSHDECK_GATEWAY_BATCH = engine_batch
    settings.PUSHDECK_CHUNK_SIZE = 500
    _devices(app, "meizu", [f"mz{i:03d}" for i in range(250)])
    task = _broadcast(app)
    run_task(task)
    calls = vendor.sends()
    assert len(calls) == 3
    assert sorted(len(r.form["pushIds"].split(",")) for r in calls) == [50, 100, 100]
    assert Delivery.objects.filter(message__task=task, state=MessageState.ACCEPTED).count() == 250


@pytest.mark.parametrize("vendor", ["huawei", "vivo"], indirect=True)
def test_vendor_message_id_on_the_message_detail_and_in_the_troubleshooting_answer(
    app, vendor, client_for, channel_admin
):
    _devices(app, vendor.name, ["tok-1"])
    task = make_task(app, [f"{vendor.name}-tok-1"], target_type=TargetType.ANDROID_DEVICE)
    run_task(task)
    message = Message.objects.get(task=task)
    (issued,) = vendor.message_ids()
    assert Delivery.objects.get(message=message).gateway_message_id == issued
    html = client_for(channel_admin).get(f"/apps/{app.app_key}/messages/{message.pk}/").content
    assert issued in html.decode()
    diagnosis = troubleshoot(app=app, message_ref=message.customer_msg_id)
    assert diagnosis.kinds == ["delivered"]
    assert any(issued in e for f in diagnosis.findings for e in f.evidence)
    page = client_for(channel_admin).get(f"/apps/{app.app_key}/troubleshoot/", {"message_ref": message.customer_msg_id})
    assert issued in page.content.decode()


def _health(app, kind: str, client) -> str:
    return _health_row(client.get(f"/apps/{app.app_key}/push-config/").content.decode(), kind)


def test_fcm_refusal_and_recovery_show_on_the_health_row(app, settings, client_for, channel_admin):
    from console.models import FcmCredential
    from tests.fakes.pki import make_rsa_key
    from tests.fakes.vendors import FakeFcm

    close_all()
    private, public = make_rsa_key()
    other_private, _ = make_rsa_key()
    email = "pusher@demo-project.iam.gserviceaccount.com"
    fake = FakeFcm(project_id="demo-project", client_email=email, public_pem=public).start()
    settings.FCM_URL, settings.FCM_TOKEN_URL = fake.url, fake.token_url

    def account(key: str) -> str:
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "demo-project",
                "private_key_id": "key-1",
                "private_key": key,
                "client_email": email,
                "token_uri": fake.token_url,
            }
        )

    try:
        fcm = FcmCredential.objects.create(
            app=app, enabled=True, service_account=account(other_private), project_id="demo-project", fingerprint="a"
        )
        make_device(app, "fcm-1", fcm_token="fcm-token-1")
        run_task(make_task(app, ["fcm-1"], target_type=TargetType.ANDROID_DEVICE))
        fcm.refresh_from_db()
        assert "invalid_grant" in fcm.last_error
        client = client_for(channel_admin)
        row = _health(app, "FCM", client)
        assert 'class="pill failing"' in row and "invalid_grant" in row and "PRIVATE KEY" not in row

        FcmCredential.objects.filter(pk=fcm.pk).update(
            service_account=account(private), fingerprint="b", updated_at=timezone.now()
        )
        run_task(make_task(app, ["fcm-1"], target_type=TargetType.ANDROID_DEVICE))
        fcm.refresh_from_db()
        assert fcm.last_error == "" and len(fake.requests_to("messages:send")) == 1
        assert 'class="pill ok"' in _health(app, "FCM", client)
    finally:
        close_all()
        fake.stop()


def test_apns_refusal_and_recovery_show_on_the_health_row(app, gateways, client_for, channel_admin):
    from tests.fakes.apns import Answer

    refused_token = "3" * 64
    gateways.apns.script[refused_token] = Answer(403, "BadCertificate")
    make_device(app, "ios-1", platform="ios", apns_token=refused_token)
    make_device(app, "ios-2", platform="ios", apns_token="4" * 64)
    run_task(make_task(app, ["ios-1"], target_type=TargetType.IOS_DEVICE))
    certificate = gateways.certificate
    certificate.refresh_from_db()
    assert "BadCertificate" in certificate.last_error
    client = client_for(channel_admin)
    row = _health(app, "APNs certificate", client)
    assert 'class="pill failing"' in row and "BadCertificate" in row

    run_task(make_task(app, ["ios-2"], target_type=TargetType.IOS_DEVICE))
    certificate.refresh_from_db()
    assert certificate.last_error == ""
    assert 'class="pill ok"' in _health(app, "APNs certificate", client)


@pytest.mark.parametrize("vendor", ["vivo"], indirect=True)
def test_vivo_limits_are_said_before_sending_in_the_console_and_the_api_and_shown_on_the_task_page(
    app, vendor, client_for, marketer, client
):
    from campaigns.models import PushTask
    from tests.apiclient import SignedClient, enable_server_api

    _devices(app, "vivo", ["tok-1"])
    three_days = 3 * 86400
    long_title = "T" * 45
    form = {
        "target_type": "android_device",
        "targets": "vivo-tok-1",
        "customer_msg_id": "c-vivo-1",
        "channel": "auto",
        "display_type": "notification",
        "display_style": "default",
        "title": long_title,
        "body": "World",
        "click_action": "open_app",
        "url": "",
        "expire_seconds": str(three_days),
        "extras": "",
        "send_at": "",
        "name": "",
        "idempotency_token": "tok-vivo",
        "action": "preview",
    }
    console = client_for(marketer)
    preview = console.post(f"/apps/{app.app_key}/send/simple/", form).content.decode()
    notes = preview.split('data-testid="vendor-notes"', 1)[1].split("</div>", 1)[0]
    assert "at most 24 hours" in notes and "72.0 hours" in notes and "45" in notes and "40" in notes
    assert PushTask.objects.count() == 0, "the preview sends nothing"

    api = SignedClient(client, app, private_pem=enable_server_api(app))
    answer = api.post(
        "/api/v1/push/simple",
        {
            "taskName": "vivo limits",
            "deliveryType": 1,
            "targetMsgkey": {"vivo-tok-1": "m-vivo-1"},
            "title": long_title,
            "body": "World",
            "expiredSeconds": three_days,
        },
    ).json()
    assert answer["resultCode"] == 100
    said = {n["limit"]: n for n in answer["pushResult"]["vendorNotes"]}
    assert said["validity"]["vendor"] == "vivo" and (said["validity"]["asked"], said["validity"]["max"]) == (
        three_days,
        86400,
    )
    assert (said["title"]["asked"], said["title"]["max"]) == (45, 40) and "body" not in said
    task = PushTask.objects.get(pk=answer["pushResult"]["taskId"])
    page = console.get(f"/apps/{app.app_key}/send/tasks/{task.pk}/").content.decode()
    assert 'data-testid="vendor-notes"' in page and "at most 24 hours" in page

    run_task(task)
    (sent,) = vendor.fake.requests_to("/message/send")
    assert sent.json["timeToLive"] == 86400 and len(sent.json["title"]) == 40
    assert Delivery.objects.get(message__task=task).state == MessageState.ACCEPTED


def test_no_vendor_note_when_the_send_fits_or_no_such_channel_is_on(app, client_for, marketer):
    from campaigns.sends import rules

    assert (
        rules.vendor_limit_notes(vendors={"huawei"}, title_length=60, body_length=300, expire_seconds=3 * 86400) == []
    )
    assert rules.vendor_limit_notes(vendors={"vivo"}, title_length=40, body_length=100, expire_seconds=86400) == []
    notes = rules.vendor_limit_notes(vendors={"xiaomi", "vivo"}, title_length=50, body_length=10, expire_seconds=60)
    assert [(n["vendor"], n["limit"]) for n in notes] == [("vivo", "title"), ("xiaomi", "title")]


@pytest.mark.parametrize("vendor", VENDORS, indirect=True)
def test_an_invalid_token_alone_is_marked_dead_and_not_sent_again(app, vendor):
    """The vendor's answer when every token of the call is refused (Huawei 80300007 with HTTP 400, Xiaomi
    20301, OPPO 10000, vivo 10302, Honor failTokens, Meizu 110003 in `value`)."""
    vendor.fake.invalid_tokens.add("tok-dead")
    (dead,) = _devices(app, vendor.name, ["tok-dead"])
    task = make_task(app, [f"{vendor.name}-tok-dead"], target_type=TargetType.ANDROID_DEVICE)
    run_task(task)
    delivery = Delivery.objects.get(message__task=task)
    assert delivery.state == MessageState.FAILED and delivery.gateway_code is not None
    dead.refresh_from_db()
    assert dead.token_dead_at is not None
    calls = len(vendor.fake.requests)
    run_task(make_task(app, [f"{vendor.name}-tok-dead"], target_type=TargetType.ANDROID_DEVICE))
    assert len(vendor.fake.requests) == calls, "a dead token is not sent again"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("vendor", ["xiaomi"], indirect=True)
def test_the_refused_credential_row_is_red_with_the_vendors_words_in_the_browser(
    app, vendor, page, login, channel_admin
):
    VendorChannel.objects.filter(pk=vendor.channel.pk).update(secrets=json.dumps(WRONG), updated_at=timezone.now())
    _devices(app, "xiaomi", ["tok-1"])
    run_task(make_task(app, ["xiaomi-tok-1"], target_type=TargetType.ANDROID_DEVICE))
    login(channel_admin)
    for path in (f"/apps/{app.app_key}/push-config/", f"/apps/{app.app_key}/"):
        page.goto(path)
        row = page.get_by_test_id("credential-health").locator("tr", has_text="Xiaomi")
        pill = row.locator(".pill")
        assert pill.inner_text() == "Failing"
        assert pill.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(253, 232, 231)"
        assert "21301" in row.inner_text()

    VendorChannel.objects.filter(pk=vendor.channel.pk).update(
        secrets=json.dumps(CREDENTIALS["xiaomi"][2]), updated_at=timezone.now()
    )
    run_task(make_task(app, ["xiaomi-tok-1"], target_type=TargetType.ANDROID_DEVICE))
    page.goto(f"/apps/{app.app_key}/push-config/")
    row = page.get_by_test_id("credential-health").locator("tr", has_text="Xiaomi")
    assert row.locator(".pill").inner_text() == "OK" and "21301" not in row.inner_text()


@pytest.mark.parametrize("vendor", ["vivo"], indirect=True)
def test_vivo_secret_is_labelled_appsecret_and_oppo_keeps_mastersecret(app, vendor, client_for, channel_admin):
    import re

    html = client_for(channel_admin).get(f"/apps/{app.app_key}/push-config/").content.decode()
    package = vendor.channel.package.pk

    def label(vendor_code: str) -> str:
        found = re.search(
            rf'<label[^>]*for="id_{package}-{vendor_code}-secret_master_secret"[^>]*>(.*?)</label>', html, re.S
        )
        assert found, vendor_code
        return found.group(1)

    assert "AppSecret" in label("vivo") and "MasterSecret" not in label("vivo")
    assert "MasterSecret" in label("oppo")
