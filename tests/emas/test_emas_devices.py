"""Device, tag, alias and phone actions and the queries of the EMAS door, through both official SDKs."""

from __future__ import annotations

import pytest

from campaigns.models import Device, DeviceAlias, PushTask, Tag
from console.models import AuditEntry, KeyConfig

from .helpers import SdkError, Sdks

KINDS = ["tea", "old"]


def tags_of(device_id: str) -> list[str]:
    return sorted(Tag.objects.filter(devices__device_id=device_id).values_list("name", flat=True))


def aliases_of(device_id: str) -> list[str]:
    return sorted(DeviceAlias.objects.filter(device__device_id=device_id).values_list("alias", flat=True))


def test_aliases_tags_and_phone_change_and_are_read_back(app, fleet, sdks):
    for kind in KINDS:
        key = app.emas_app_key

        def call(action, kind=kind, key=key, **params):
            return sdks.call(kind, action, {"AppKey": key, **params})

        assert set(call("BindAlias", DeviceId="plain-1", AliasName="a-1,a-2")) == {"RequestId"}
        assert aliases_of("plain-1") == ["a-1", "a-2"]
        assert call("QueryAliases", DeviceId="plain-1")["AliasInfos"]["AliasInfo"] == [
            {"AliasName": "a-1"},
            {"AliasName": "a-2"},
        ]
        assert call("QueryDevicesByAlias", Alias="a-1")["DeviceIds"]["DeviceId"] == ["plain-1"]
        call("UnbindAlias", DeviceId="plain-1", AliasName="a-1")
        assert aliases_of("plain-1") == ["a-2"]
        call("UnbindAlias", DeviceId="plain-1", UnbindAll=True)
        assert aliases_of("plain-1") == []
        assert call("QueryDevicesByAccount", Account="acct-1")["DeviceIds"]["DeviceId"] == ["iphone-1"]

        call("BindTag", ClientKey="plain-1,huawei-1", KeyType="DEVICE", TagName="gold,new")
        assert tags_of("plain-1") == ["gold", "new"] and tags_of("huawei-1") == ["gold", "new"]
        assert call("QueryTags", ClientKey="plain-1", KeyType="DEVICE")["TagInfos"]["TagInfo"] == [
            {"TagName": "gold"},
            {"TagName": "new"},
        ]
        call("UnbindTag", ClientKey="plain-1", KeyType="DEVICE", TagName="new")
        assert tags_of("plain-1") == ["gold"] and tags_of("huawei-1") == ["gold", "new"]
        assert [t["TagName"] for t in call("ListTags")["TagInfos"]["TagInfo"]] == ["gold", "new", "vip"]
        call("RemoveTag", TagName="gold")
        assert not Tag.objects.filter(app=app, name="gold").exists() and tags_of("plain-1") == []

        call("BindPhone", DeviceId="plain-1", PhoneNumber="13800138000")
        assert Device.objects.get(device_id="plain-1").phone_number == "13800138000"
        info = call("QueryDeviceInfo", DeviceId="huawei-1")["DeviceInfo"]
        assert (info["DeviceId"], info["DeviceType"], info["Alias"], info["Tags"], info["PushEnabled"]) == (
            "huawei-1",
            "ANDROID",
            "alias-1",
            "new",
            True,
        )
        assert call("QueryDeviceInfo", DeviceId="plain-1")["DeviceInfo"]["PhoneNumber"] == "13800138000"
        call("UnbindPhone", DeviceId="plain-1")
        assert Device.objects.get(device_id="plain-1").phone_number == ""

        assert call("CheckDevice", DeviceId="iphone-1")["Available"] is True
        assert call("CheckDevice", DeviceId="nobody")["Available"] is False
        assert call("CheckDevices", DeviceIds="iphone-1,nobody")["DeviceCheckInfos"]["DeviceCheckInfo"] == [
            {"DeviceId": "iphone-1", "Available": True},
            {"DeviceId": "nobody", "Available": False},
        ]
        # Every change is in the app's audit log under the AccessKey.
        actions = set(AuditEntry.objects.filter(app=app, action__startswith="emas.").values_list("action", flat=True))
        assert actions == {
            "emas.alias.bind",
            "emas.alias.unbind",
            "emas.tag.bind",
            "emas.tag.unbind",
            "emas.tag.remove",
            "emas.phone.bind",
            "emas.phone.unbind",
        }


def test_app_level_queries_answer_the_sdk_types(app, other_app, fleet, sdks, gateways):
    for kind in KINDS:
        [info] = sdks.call(kind, "ListSummaryApps", {})["SummaryAppInfos"]["SummaryAppInfo"]
        assert info == {"AppKey": app.emas_app_key, "AppName": app.name}  # an integer AppKey, only the key's apps
        assert isinstance(sdks.tea.list_summary_apps().body.summary_app_infos.summary_app_info[0].app_key, int)
        cert = sdks.call(kind, "CheckCertificate", {"AppKey": app.emas_app_key})
        assert cert["Android"] is True and cert["IOS"] is True
        assert cert["ProductionCertInfo"]["Status"] == "OK" and cert["DevelopmentCertInfo"] == {
            "Status": "NOT_CONFIGURED"
        }
        assert cert["ProductionCertInfo"]["ExipreTime"] == int(gateways.certificate.not_after.timestamp() * 1000)
        stats = sdks.call(
            kind,
            "QueryDeviceStat",
            {
                "AppKey": app.emas_app_key,
                "StartTime": _day(-1),
                "EndTime": _day(1),
                "DeviceType": "ALL",
                "QueryType": "TOTAL",
            },
        )["AppDeviceStats"]["AppDeviceStat"]
        assert [s["Count"] for s in stats] == [0, 3]
        with pytest.raises(SdkError) as refused:
            sdks.call(
                kind,
                "QueryUniqueDeviceStat",
                {"AppKey": app.emas_app_key, "StartTime": _day(-1), "EndTime": _day(1), "Granularity": "DAY"},
            )
        assert refused.value.code == "InvalidAction.NotSupported"


def _day(days: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT00:00:00Z")


def test_roles_unknown_fields_and_bad_input_are_refused_with_nothing_changed(
    app, fleet, live_server, auditor_key, outsider_key, sdks
):
    for kind in KINDS:
        key = app.emas_app_key
        auditor = Sdks(live_server, auditor_key)
        push = {
            "AppKey": key,
            "Target": "DEVICE",
            "TargetValue": "iphone-1",
            "DeviceType": "ALL",
            "PushType": "NOTICE",
            "Title": "T",
            "Body": "B",
        }
        # An auditor's key reads but does not push or change devices; an outsider's key reads nothing.
        assert auditor.call(kind, "ListTags", {"AppKey": key})["TagInfos"]["TagInfo"] == [{"TagName": "vip"}]
        for who, action, params in [
            (auditor, "Push", push),
            (auditor, "BindTag", {"AppKey": key, "ClientKey": "plain-1", "KeyType": "DEVICE", "TagName": "x"}),
            (Sdks(live_server, outsider_key), "ListTags", {"AppKey": key}),
            (Sdks(live_server, outsider_key), "Push", push),
        ]:
            with pytest.raises(SdkError) as refused:
                who.call(kind, action, params)
            assert (refused.value.status, refused.value.code) == (403, "Forbidden")
        # What Pushdeck cannot honour is refused by name, never dropped.
        for extra, named in [
            ({"AndroidNotificationChannel": "8.0up"}, "AndroidNotificationChannel"),
            ({"SmsTemplateName": "t", "SmsSignName": "s"}, "SmsSignName"),
            ({"DeviceType": "HARMONY"}, "HARMONY"),
            ({"iOSSubtitle": "sub"}, "iOSSubtitle"),
            ({"AndroidRemind": True, "AndroidPopupBody": "Other text"}, "AndroidPopupBody"),
            ({"PushType": "MESSAGE", "AndroidRemind": True}, "AndroidRemind"),
        ]:
            with pytest.raises(SdkError) as refused:
                sdks.call(kind, "Push", {**push, **extra})
            assert refused.value.code == "InvalidParameter.NotSupported" and named in refused.value.message
        for bad, code in [
            ({"Target": "PLANET"}, "InvalidParameter"),
            ({"Body": ""}, "MissingParameter"),
            ({"PushTime": "tomorrow"}, "InvalidParameter"),
            ({"TargetValue": ",".join(f"d{i}" for i in range(1001))}, "InvalidParameter"),
            ({"AndroidExtParameters": "{not json"}, "InvalidParameter"),
        ]:
            with pytest.raises(SdkError) as refused:
                sdks.call(kind, "Push", {**push, **bad})
            assert refused.value.code == code and refused.value.status == 400
        with pytest.raises(SdkError) as refused:
            sdks.call(
                kind,
                "PushV2",
                {
                    "AppKey": key,
                    "PushTask": {
                        "Target": {"Type": "DEVICE", "Value": "iphone-1"},
                        "Notification": {"Title": "T", "Body": "B", "Android": {"ChannelId": "8.0up"}},
                    },
                },
            )
        assert "PushTask.Notification.Android.ChannelId" in refused.value.message
        with pytest.raises(SdkError) as refused:
            sdks.call(kind, "BindTag", {"AppKey": key, "ClientKey": "acct-1", "KeyType": "ACCOUNT", "TagName": "x"})
        assert refused.value.code == "InvalidParameter.NotSupported"
        with pytest.raises(SdkError) as refused:
            sdks.call(kind, "BindAlias", {"AppKey": key, "DeviceId": "nobody", "AliasName": "x"})
        assert refused.value.code == "InvalidParameter.DeviceNotFound"
        assert PushTask.objects.count() == 0 and Tag.objects.filter(name="x").count() == 0
        assert DeviceAlias.objects.filter(alias="x").count() == 0


def test_the_apps_allowed_source_addresses_hold_at_this_door(app, fleet, sdks):
    KeyConfig.objects.filter(app=app).update(ip_allowlist="10.20.0.0/16")
    for kind in KINDS:
        with pytest.raises(SdkError) as refused:
            sdks.call(
                kind,
                "BindTag",
                {"AppKey": app.emas_app_key, "ClientKey": "plain-1", "KeyType": "DEVICE", "TagName": "x"},
            )
        assert (refused.value.status, refused.value.code) == (403, "Forbidden.SourceAddress")
    assert not Tag.objects.filter(name="x").exists()
    KeyConfig.objects.filter(app=app).update(ip_allowlist="127.0.0.0/8")
    sdks.call(
        "tea", "BindTag", {"AppKey": app.emas_app_key, "ClientKey": "plain-1", "KeyType": "DEVICE", "TagName": "x"}
    )
    assert tags_of("plain-1") == ["x"]
