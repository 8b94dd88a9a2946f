"""E-mails speak each recipient's language; exports carry translated headers and times with offset."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from console.credentials import services
from console.models import Role, UserProfile
from tests.console.test_credentials_expiry import _install
from tests.factories import MembershipFactory, UserFactory
from tests.factories_campaigns import MessageFactory

pytestmark = pytest.mark.django_db


def test_expiry_warning_mail_in_each_admins_language(app, channel_admin, django_capture_on_commit_callbacks):
    chinese_admin = UserFactory(username="zh_admin")
    MembershipFactory(user=chinese_admin, app=app, role=Role.CHANNEL_ADMIN)
    UserProfile.objects.update_or_create(user=chinese_admin, defaults={"language": "zh-hans"})
    UserProfile.objects.filter(user=channel_admin).update(language="en")
    start = datetime.now(UTC).replace(microsecond=0)
    _install(app, channel_admin, start + timedelta(days=20), not_before=start - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.certificates_expiry_warn(now=start + timedelta(hours=1))
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert set(by_recipient) == {channel_admin.email, chinese_admin.email}
    english, chinese = by_recipient[channel_admin.email], by_recipient[chinese_admin.email]
    assert "expires within 30 days" in english.subject
    assert "APNs 证书将在 30 天内过期" in chinese.subject
    assert "推送配置" in chinese.body and app.ios_bundle_id in chinese.body
    assert "Upload" not in chinese.body


def _export(client, app, fmt, zone="Asia/Shanghai"):
    # The export reads its dates as days in the viewer's zone: ask for "today" there.
    today = timezone.localdate(timezone=ZoneInfo(zone))
    url = reverse("campaigns:exports", kwargs={"app_key": app.app_key})
    params = {"kind": "messages", "file_format": fmt, "date_from": today.isoformat(), "date_to": today.isoformat()}
    return b"".join(client.get(url, params).streaming_content)


def test_export_headers_in_the_viewers_language_and_times_in_their_zone(app, auditor, client_for):
    message = MessageFactory(app=app, customer_msg_id="cm-zone")
    UserProfile.objects.filter(user=auditor).update(language="zh-hans", timezone="Asia/Shanghai")
    c = client_for(auditor)
    rows = list(csv.reader(io.StringIO(_export(c, app, "csv").decode("utf-8-sig"))))
    assert rows[0][:3] == ["消息 ID", "客户消息 ID", "任务 ID"]
    created = datetime.fromisoformat(rows[1][13])
    assert rows[1][13].endswith("+08:00")  # ISO 8601 with the viewer's offset
    assert created == message.created_at.replace(microsecond=0)
    sheet = load_workbook(BytesIO(_export(c, app, "xlsx"))).active
    assert sheet.cell(1, 1).value == "消息 ID"
    assert str(sheet.cell(2, 14).value).endswith("+08:00")


def test_export_form_dates_name_the_zone(app, auditor, client_for):
    UserProfile.objects.filter(user=auditor).update(timezone="Europe/Berlin")
    html = client_for(auditor).get(reverse("campaigns:exports", kwargs={"app_key": app.app_key})).content.decode()
    assert html.count('data-testid="picker-zone">(Europe/Berlin)<') == 2
