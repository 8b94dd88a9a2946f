"""Every action of mPaaS 2020-10-28 driven through the official SDK against the live server:
the SDK's response objects, and what changed (rows, the fake APNs, cancelled and stopped sends)."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException
from django.utils import timezone

from campaigns.delivery.tasks import deliver_task_stop
from campaigns.models import Device, Message, MessageState, PushTask, TaskStatus, UserBinding
from templates_app.models import Template
from tests.acs.helpers import ids, mpaas, no_retry, sdk
from tests.delivery.conftest import make_device, run_task

pytestmark = pytest.mark.django_db(transaction=True)

RT = no_retry


def test_templates_create_get_list_delete(app, marketer_key, auditor_key, live_server):
    client = sdk(live_server, marketer_key)
    created = client.create_template_with_options(
        mpaas.CreateTemplateRequest(
            **ids(app),
            template_name="welcome",
            title="Hi #name#",
            content="Code #code#",
            desc_info="first",
            jump_action=0,
            uri="https://example.com/#code#",
            push_style=1,
            variables="name,code",
        ),
        RT(),
    ).body
    assert (created.success, created.code) == (True, "100")
    template = Template.objects.get(pk=int(created.data))
    assert (template.name, template.current_version.display_style) == ("welcome", "big_text")
    assert template.current_version.url == "https://example.com/#code#"

    again = client.create_template_with_options(
        mpaas.CreateTemplateRequest(**ids(app), template_name="welcome", title="x", content="y", desc_info="d"), RT()
    ).body
    assert (again.success, again.code) == (False, "3036")

    got = (
        sdk(live_server, auditor_key)
        .get_template_with_options(mpaas.GetTemplateRequest(**ids(app), template_name="welcome"), RT())
        .body
    )
    assert (got.success, got.data.id, got.data.title, got.data.action) == (True, str(template.pk), "Hi #name#", "0")
    assert got.data.variables == "name,code" and got.data.push_style == "1"

    page = client.list_template_page_with_options(
        mpaas.ListTemplatePageRequest(**ids(app), current_page=1, page_size=10), RT()
    ).body
    assert (page.total_size, page.current_page, [t.name for t in page.data]) == (1, 1, ["welcome"])

    with pytest.raises(ClientException) as auditor_refused:
        sdk(live_server, auditor_key).delete_template_with_options(
            mpaas.DeleteTemplateRequest(**ids(app), template_id=str(template.pk)), RT()
        )
    assert auditor_refused.value.code == "Forbidden"
    deleted = client.delete_template_with_options(
        mpaas.DeleteTemplateRequest(**ids(app), template_id=str(template.pk)), RT()
    ).body
    assert deleted.success is True
    assert not Template.objects.live().filter(pk=template.pk).exists()
    missing = client.get_template_with_options(mpaas.GetTemplateRequest(**ids(app), template_name="welcome"), RT())
    assert (missing.body.success, missing.body.code) == (False, "3022")


def test_template_multiple_and_broadcast_pushes(app, marketer_key, gateways, live_server):
    from tests.campaigns.send_fixtures import make_template

    make_template(app)  # promo: "Hi #name#" / "Your code is #code#"
    phones = [make_device(app, platform="ios") for _ in range(3)]
    client = sdk(live_server, marketer_key)

    one = client.push_template_with_options(
        mpaas.PushTemplateRequest(
            **ids(app),
            task_name="tpl",
            template_name="promo",
            template_key_value=json.dumps({"name": "Ann", "code": "7"}),
            delivery_type=2,
            expired_seconds=300,
            target_msgkey=json.dumps({phones[0].device_id: "tpl-1"}),
        ),
        RT(),
    ).body
    assert (one.result_code, one.push_result.success) == ("100", True)
    many = client.push_multiple_with_options(
        mpaas.PushMultipleRequest(
            **ids(app),
            task_name="multi",
            template_name="promo",
            delivery_type=2,
            expired_seconds=300,
            target_msg=[
                mpaas.PushMultipleRequestTargetMsg(
                    target=p.device_id,
                    msg_key=f"mul-{i}",
                    template_key_value=json.dumps({"name": f"N{i}", "code": str(i)}),
                )
                for i, p in enumerate(phones[1:])
            ],
        ),
        RT(),
    ).body
    assert many.result_code == "100"
    for data in (one.push_result.data, many.push_result.data):
        run_task(PushTask.objects.get(pk=int(data)))
    alerts = sorted(json.loads(r.body)["aps"]["alert"]["title"] for r in gateways.apns.requests)
    assert alerts == ["Hi Ann", "Hi N0", "Hi N1"]

    wide = client.push_broadcast_with_options(
        mpaas.PushBroadcastRequest(
            **ids(app),
            task_name="everyone",
            template_name="promo",
            template_key_value=json.dumps({"name": "All", "code": "0"}),
            delivery_type=2,
            expired_seconds=300,
            msgkey="bc-1",
            push_status=1,
            un_bind_period=4,
        ),
        RT(),
    ).body
    task = PushTask.objects.get(pk=int(wide.push_result.data))
    assert task.params["unbind_period"] == 5 and task.status == TaskStatus.AWAITING_APPROVAL
    bad = client.push_broadcast_with_options(
        mpaas.PushBroadcastRequest(
            **ids(app),
            task_name="x",
            template_name="promo",
            delivery_type=2,
            expired_seconds=1,
            msgkey="bc-2",
            push_status=1,
        ),
        RT(),
    ).body
    assert (bad.result_code, bad.push_result.success) == ("3051", False)
    unsupported = client.push_template_with_options(
        mpaas.PushTemplateRequest(
            **ids(app),
            task_name="t",
            template_name="promo",
            delivery_type=2,
            expired_seconds=60,
            target_msgkey=json.dumps({"x": "sms-1"}),
            sms_strategy=1,
        ),
        RT(),
    ).body
    assert unsupported.result_code == "3028" and "SmsStrategy" in unsupported.result_message
    assert PushTask.objects.count() == 3


def test_report_bind_query_unbind(app, marketer_key, auditor_key, live_server):
    client = sdk(live_server, marketer_key)
    reported = client.push_report_with_options(
        mpaas.PushReportRequest(
            **ids(app),
            delivery_token="ad-1",
            os_type=1,
            app_version="2.0",
            third_channel=5,
            third_channel_device_token="hw-1",
        ),
        RT(),
    ).body
    assert (reported.result_code, reported.push_result.success) == ("100", True)
    device = Device.objects.get(app=app, device_id="ad-1")
    assert (device.platform, device.vendor, device.vendor_token, device.app_version) == (
        "android",
        "huawei",
        "hw-1",
        "2.0",
    )

    bound = client.push_bind_with_options(
        mpaas.PushBindRequest(**ids(app), delivery_token="ad-1", os_type=1, user_id="u-1"), RT()
    ).body
    assert bound.result_code == "100"
    assert UserBinding.objects.filter(app=app, user_id="u-1", device=device).exists()

    state = (
        sdk(live_server, auditor_key)
        .push_query_device_state_with_options(
            mpaas.PushQueryDeviceStateRequest(**ids(app), target="u-1", target_type=2), RT()
        )
        .body
    )
    assert (state.success, state.data.device_id, state.data.third_token, state.data.user_id) == (
        True,
        "ad-1",
        "hw-1",
        "u-1",
    )
    assert state.data.statue == "offline"

    unknown = client.push_bind_with_options(
        mpaas.PushBindRequest(**ids(app), delivery_token="nope", os_type=1, user_id="u-2"), RT()
    ).body
    assert unknown.result_code == "3054"
    unbound = client.push_un_bind_with_options(
        mpaas.PushUnBindRequest(**ids(app), delivery_token="ad-1", user_id="u-1"), RT()
    ).body
    assert (unbound.result_code, unbound.push_result.data) == ("100", "1")
    assert not UserBinding.objects.filter(app=app).exists()


def test_scheduled_send_listed_then_cancelled_and_a_queued_send_revoked(app, marketer_key, live_server):
    client = sdk(live_server, marketer_key)
    at = int((timezone.now() + timedelta(days=1)).timestamp() * 1000)
    later = client.push_simple_with_options(
        mpaas.PushSimpleRequest(
            **ids(app),
            task_name="tomorrow",
            title="T",
            content="C",
            delivery_type=1,
            expired_seconds=300,
            target_msgkey=json.dumps({"d1": "later-1"}),
            strategy_type=1,
            strategy_content=json.dumps({"fixedTime": at}),
        ),
        RT(),
    ).body
    task = PushTask.objects.get(pk=int(later.push_result.data))
    assert task.status == TaskStatus.SCHEDULED and int(task.scheduled_at.timestamp() * 1000) == at

    now_ms = int(time.time() * 1000)
    listed = client.query_push_scheduler_list_with_options(
        mpaas.QueryPushSchedulerListRequest(**ids(app), start_time=now_ms, end_time=now_ms + 2 * 86400_000), RT()
    ).body
    rows = listed.result_content.data.list
    assert listed.result_content.data.total_count == 1
    assert (rows[0].unique_id, rows[0].push_time, rows[0].push_title, rows[0].executed_status) == (
        str(task.pk),
        at,
        "T",
        "0",
    )
    cancelled = client.cancel_push_scheduler_with_options(
        mpaas.CancelPushSchedulerRequest(**ids(app), unique_ids=str(task.pk)), RT()
    ).body
    assert cancelled.result_code == "100"
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    deliver_task_stop(task.pk)  # what the call queued: a worker cancels the open messages
    assert Message.objects.get(task=task).state == MessageState.CANCELLED
    mps = client.query_mps_scheduler_list_with_options(mpaas.QueryMpsSchedulerListRequest(**ids(app)), RT()).body
    assert mps.result_content.data.list[0].executed_status == "2"

    now = client.push_simple_with_options(
        mpaas.PushSimpleRequest(
            **ids(app),
            task_name="now",
            title="T",
            content="C",
            delivery_type=1,
            expired_seconds=300,
            target_msgkey=json.dumps({"d1": "now-1", "d2": "now-2"}),
        ),
        RT(),
    ).body
    one = client.revoke_push_message_with_options(
        mpaas.RevokePushMessageRequest(**ids(app), message_id="now-1", target_id="d1"), RT()
    ).body
    assert (one.result_code, one.push_result.success) == ("100", True)
    assert Message.objects.get(customer_msg_id="now-1").state == MessageState.CANCELLED
    assert Message.objects.get(customer_msg_id="now-2").state == MessageState.PENDING
    twice = client.revoke_push_message_with_options(
        mpaas.RevokePushMessageRequest(**ids(app), message_id="now-1", target_id="d1"), RT()
    ).body
    assert (twice.result_code, twice.push_result.success) == ("3028", False)
    revoked = client.revoke_push_task_with_options(
        mpaas.RevokePushTaskRequest(**ids(app), task_id=now.push_result.data), RT()
    ).body
    assert (revoked.result_code, revoked.push_result.data) == ("100", "1")
    stopped = PushTask.objects.get(pk=int(now.push_result.data))
    assert stopped.status == TaskStatus.STOPPED
    deliver_task_stop(stopped.pk)  # what the call queued: a worker cancels the open messages
    assert set(Message.objects.filter(task=stopped).values_list("state", flat=True)) == {MessageState.CANCELLED}


def test_analysis_queries_read_what_was_sent(app, marketer_key, auditor_key, gateways, live_server):
    from tests.campaigns.send_fixtures import make_template

    make_template(app)
    phones = [make_device(app, platform="ios") for _ in range(2)]
    sent = (
        sdk(live_server, marketer_key)
        .push_multiple_with_options(
            mpaas.PushMultipleRequest(
                **ids(app),
                task_name="campaign",
                template_name="promo",
                delivery_type=2,
                expired_seconds=300,
                target_msg=[
                    mpaas.PushMultipleRequestTargetMsg(
                        target=p.device_id, msg_key=f"an-{i}", template_key_value=json.dumps({"name": "A", "code": "1"})
                    )
                    for i, p in enumerate(phones)
                ],
            ),
            RT(),
        )
        .body
    )
    task = PushTask.objects.get(pk=int(sent.push_result.data))
    run_task(task)
    reader = sdk(live_server, auditor_key)
    start = int((timezone.now() - timedelta(hours=1)).timestamp() * 1000)
    listed = reader.query_push_analysis_task_list_with_options(
        mpaas.QueryPushAnalysisTaskListRequest(**ids(app), start_time=start), RT()
    ).body
    row = listed.result_content.data[0]
    assert (row.task_id, row.task_name, row.template_name, row.type) == (str(task.pk), "campaign", "promo", 2)
    detail = reader.query_push_analysis_task_detail_with_options(
        mpaas.QueryPushAnalysisTaskDetailRequest(**ids(app), task_id=str(task.pk)), RT()
    ).body.result_content.data
    assert (detail.task_id, detail.push_num, detail.push_success_num, detail.push_arrival_num) == (
        task.pk,
        2.0,
        2.0,
        2.0,
    )
    end = int((timezone.now() + timedelta(hours=1)).timestamp() * 1000)
    core = reader.query_push_analysis_core_index_with_options(
        mpaas.QueryPushAnalysisCoreIndexRequest(**ids(app), start_time=start - 3600_000, end_time=end, platform="ios"),
        RT(),
    ).body.result_content.data
    assert (core.push_num, core.arrival_num, core.arrival_rate) == (2.0, 2.0, 100.0)
