"""Date and date-time fields show and take ISO `YYYY-MM-DD [HH:MM]`, read in the viewer's zone."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django import forms
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.reports.forms import AnalysisForm, ExportForm, ReceiptFilterForm
from campaigns.sends.forms import SimpleSendForm
from console.forms import AuditFilterForm
from console.models import UserProfile
from console.widgets import IsoDateField, IsoDateTimeField, zone_label

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
DATE_ERROR = "Enter the date as YYYY-MM-DD, for example 2025-03-31."
DATETIME_ERROR = "Enter the date and time as YYYY-MM-DD HH:MM (24-hour clock), for example 2025-03-31 14:30."


class _Form(forms.Form):
    day = IsoDateField(required=False)
    at = IsoDateTimeField(required=False)


def test_date_time_is_read_in_the_viewers_zone():
    with timezone.override(SHANGHAI):
        for text in ("2025-03-31 14:30", "2025-03-31T14:30", " 2025-03-31 14:30:00 "):
            form = _Form({"at": text})
            assert form.is_valid(), (text, form.errors)
            assert form.cleaned_data["at"] == datetime(2025, 3, 31, 6, 30, tzinfo=UTC), text
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        form = _Form({"at": "2025-03-31 14:30"})
        assert form.is_valid() and form.cleaned_data["at"] == datetime(2025, 3, 31, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "03/31/2025 02:30 PM",  # what a US native picker shows
        "2025-03-31 2:30 PM",
        "31.03.2025 14:30",
        "2025-03-31 14:30+00:00",  # an offset would skip the viewer's zone
        "2025-03-31",  # a date alone is not a time
        "2025-02-30 10:00",
        "2025-03-31 24:00",
        "yesterday",
    ],
)
def test_date_time_in_another_format_is_refused_with_the_format_named(text):
    with timezone.override(SHANGHAI):
        form = _Form({"at": text})
        assert not form.is_valid()
        assert form.errors["at"] == [DATETIME_ERROR]


@pytest.mark.parametrize("text", ["03/04/2025", "04/03/25", "2025/03/04", "2025-3-4x", "20250304", "2025-13-01"])
def test_date_in_another_format_is_refused_with_the_format_named(text):
    form = _Form({"day": text})
    assert not form.is_valid()
    assert form.errors["day"] == [DATE_ERROR]


def test_date_is_iso():
    form = _Form({"day": "2025-03-04"})
    assert form.is_valid() and form.cleaned_data["day"] == date(2025, 3, 4)


def test_error_is_translated():
    with translation.override("zh-hans"):
        form = _Form({"day": "03/04/2025", "at": "03/04/2025 10:00"})
        assert not form.is_valid()
        assert form.errors["day"] == ["请按 YYYY-MM-DD 格式输入日期，例如 2025-03-31。"]
        assert "YYYY-MM-DD HH:MM" in form.errors["at"][0] and "24" in form.errors["at"][0]
        assert "Enter" not in form.errors["at"][0]


def test_inputs_are_text_showing_iso_with_the_format_as_placeholder():
    with timezone.override(SHANGHAI):
        html = str(_Form(initial={"day": date(2025, 3, 4), "at": datetime(2025, 3, 31, 6, 30, tzinfo=UTC)}))
    assert 'type="text" name="day" value="2025-03-04" placeholder="YYYY-MM-DD"' in html
    assert 'pattern="\\d{4}-\\d{2}-\\d{2}"' in html
    # An aware time is shown in the viewer's zone, 24 h.
    assert 'type="text" name="at" value="2025-03-31 14:30" placeholder="YYYY-MM-DD HH:MM"' in html
    assert 'type="date"' not in html and 'type="datetime-local"' not in html


def test_zone_label_names_the_zone_and_its_offset_at_that_time():
    winter, summer = datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 7, 15, tzinfo=UTC)
    cases = [
        ("Asia/Shanghai", winter, "Asia/Shanghai, UTC+08:00"),
        ("Asia/Kolkata", winter, "Asia/Kolkata, UTC+05:30"),
        ("America/St_Johns", winter, "America/St_Johns, UTC-03:30"),
        ("America/St_Johns", summer, "America/St_Johns, UTC-02:30"),
        ("Europe/Berlin", summer, "Europe/Berlin, UTC+02:00"),
        ("UTC", summer, "UTC, UTC+00:00"),
    ]
    for name, at, label in cases:
        with timezone.override(zoneinfo.ZoneInfo(name)):
            assert zone_label(at) == label


def test_every_console_date_field_is_an_iso_field():
    fields = [
        *SimpleSendForm.base_fields.items(),
        *ReceiptFilterForm.base_fields.items(),
        *AnalysisForm.base_fields.items(),
        *ExportForm.base_fields.items(),
        *AuditFilterForm.base_fields.items(),
    ]
    dated = {name: type(f) for name, f in fields if isinstance(f, forms.DateField | forms.DateTimeField)}
    assert set(dated) == {"send_at", "at_from", "at_to", "start", "end", "date_from", "date_to"}
    assert all(kind in (IsoDateField, IsoDateTimeField) for kind in dated.values()), dated


def test_analysis_initial_range_is_shown_in_iso_and_is_valid():
    with timezone.override(SHANGHAI):
        data = AnalysisForm.initial_data()
        today = timezone.localdate()
        assert data["start"] == f"{today - timedelta(days=6):%Y-%m-%d} 00:00"
        assert data["end"] == f"{today + timedelta(days=1):%Y-%m-%d} 00:00"
        form = AnalysisForm(data)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["start"] == datetime.combine(today - timedelta(days=6), datetime.min.time(), SHANGHAI)


@pytest.mark.django_db
def test_pages_name_the_zone_with_its_offset_and_refuse_a_bad_time(app, auditor, client_for):
    UserProfile.objects.filter(user=auditor).update(timezone="Asia/Shanghai")
    c = client_for(auditor)
    html = c.get(reverse("campaigns:analysis", kwargs={"app_key": app.app_key})).content.decode()
    assert html.count('data-testid="picker-zone">(Asia/Shanghai, UTC+08:00)<') == 2
    today = timezone.now().astimezone(SHANGHAI).date()
    assert f'value="{today - timedelta(days=6):%Y-%m-%d} 00:00"' in html

    receipts = reverse("campaigns:receipt-log", kwargs={"app_key": app.app_key})
    response = c.get(receipts, {"at_from": "03/31/2025 02:30 PM"})
    assert response.status_code == 200
    assert DATETIME_ERROR in response.content.decode()

    audit = c.get(reverse("campaigns:message-list", kwargs={"app_key": app.app_key}), {"day": "03/04/2025"})
    assert DATE_ERROR in audit.content.decode()
