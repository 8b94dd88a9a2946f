"""Filter forms of the reports pages. Every input is validated; bad input gets a message."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Channel, MessageState, Platform, PushType, ReceiptEventType
from console.widgets import ISO_DATETIME, IsoDateField, IsoDateTimeField

from .selectors import FINE_RANGE, MAX_RANGE

ANY = _("Any")


def _blank(choices, label=ANY):
    return [("", label), *choices]


def _day_bounds(day) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tz)


class MessageFilterForm(forms.Form):
    task = forms.IntegerField(label=_("Task id"), required=False, min_value=1, max_value=2**62)
    target_id = forms.CharField(label=_("Target id"), max_length=255, required=False)
    customer_msg_id = forms.CharField(label=_("Customer message id"), max_length=64, required=False)
    state = forms.ChoiceField(label=_("Status"), choices=_blank(MessageState.choices), required=False)
    channel = forms.ChoiceField(label=_("Channel"), choices=_blank(Channel.choices), required=False)
    push_type = forms.ChoiceField(
        label=_("Push type"),
        choices=_blank([c for c in PushType.choices if c[0] != PushType.BROADCAST]),
        required=False,
        help_text=_("Multiple-push messages are shown when you search, pick them here or choose a task."),
    )
    day = IsoDateField(label=_("Date"), required=False)

    def clean_day(self):
        day = self.cleaned_data.get("day")
        if day and day < (timezone.localdate() - timedelta(days=30)):
            raise forms.ValidationError(_("The message list keeps the last 30 days."))
        return day

    def filters(self) -> dict:
        data = self.cleaned_data
        out = {k: data[k].strip() for k in ("target_id", "customer_msg_id")}
        out.update({k: data[k] for k in ("state", "channel", "push_type")})
        out["task_id"] = data.get("task")
        if data.get("day"):
            out["day_start"], out["day_end"] = _day_bounds(data["day"])
        return out


class TaskFilterForm(forms.Form):
    task_id = forms.IntegerField(label=_("Task id"), required=False, min_value=1)
    name = forms.CharField(label=_("Task name"), max_length=200, required=False)
    started = IsoDateField(label=_("Start date"), required=False)

    def filters(self) -> dict:
        data = self.cleaned_data
        out: dict = {"task_id": data["task_id"], "name": data["name"].strip()}
        if data.get("started"):
            out["started_from"], out["started_to"] = _day_bounds(data["started"])
        return out


class DeviceQueryForm(forms.Form):
    user_id = forms.CharField(label=_("User id"), max_length=128, required=False)
    device_id = forms.CharField(label=_("Device id"), max_length=128, required=False)

    def clean(self):
        data = super().clean()
        if not (data.get("user_id") or "").strip() and not (data.get("device_id") or "").strip():
            raise forms.ValidationError(_("Enter a user id or a device id."))
        return data


class ReceiptFilterForm(forms.Form):
    at_from = IsoDateTimeField(label=_("From"), required=False)
    at_to = IsoDateTimeField(label=_("To"), required=False)
    event = forms.ChoiceField(label=_("Event"), choices=_blank(ReceiptEventType.choices), required=False)
    device_id = forms.CharField(label=_("Device id"), max_length=128, required=False)
    message_id = forms.IntegerField(label=_("Message id"), required=False, min_value=1)

    def clean(self):
        data = super().clean()
        if data.get("at_from") and data.get("at_to") and data["at_to"] <= data["at_from"]:
            self.add_error("at_to", _("The end must be after the start."))
        return data


class TroubleshootForm(forms.Form):
    message_ref = forms.CharField(
        label=_("Message id"),
        max_length=64,
        help_text=_("The message id or your customer message id."),
    )
    device_id = forms.CharField(label=_("Device id (optional)"), max_length=128, required=False)


class AnalysisForm(forms.Form):
    GRANULARITIES = [("minute", _("Minute")), ("hour", _("Hour")), ("day", _("Day"))]
    CHANNELS = [(c, label) for c, label in Channel.choices if c != Channel.SANDBOX]

    start = IsoDateTimeField(label=_("From"))
    end = IsoDateTimeField(label=_("To"))
    granularity = forms.ChoiceField(label=_("Granularity"), choices=GRANULARITIES)
    platform = forms.ChoiceField(label=_("Platform"), choices=_blank(Platform.choices), required=False)
    app_version = forms.CharField(label=_("App version"), max_length=40, required=False)
    channel = forms.ChoiceField(label=_("Push channel"), choices=_blank(CHANNELS), required=False)
    push_type = forms.ChoiceField(
        label=_("Push type"),
        choices=_blank([c for c in PushType.choices if c[0] != PushType.CONTINUOUS]),
        required=False,
    )

    @classmethod
    def initial_data(cls) -> dict:
        today = timezone.localdate()
        tz = timezone.get_current_timezone()
        return {
            "start": datetime.combine(today - timedelta(days=6), time.min, tz).strftime(ISO_DATETIME),
            "end": datetime.combine(today + timedelta(days=1), time.min, tz).strftime(ISO_DATETIME),
            "granularity": "day",
        }

    def clean(self):
        data = super().clean()
        start, end, gran = data.get("start"), data.get("end"), data.get("granularity")
        if not (start and end and gran):
            return data
        if end <= start:
            self.add_error("end", _("The end must be after the start."))
        elif end - start > MAX_RANGE:
            self.add_error("end", _("The range may be at most 90 days."))
        elif gran in ("minute", "hour") and end - start > FINE_RANGE:
            self.add_error(
                "granularity",
                _("Minute and hour granularity are only available for a range of one day or less. Choose Day."),
            )
        return data

    def filters(self) -> dict:
        data = self.cleaned_data
        return {
            "start": data["start"],
            "end": data["end"],
            "granularity": data["granularity"],
            "platform": data["platform"],
            "app_version": data["app_version"].strip(),
            "channel": data["channel"],
            "push_type": data["push_type"],
        }


class ExportForm(forms.Form):
    KINDS = [("messages", _("Message history")), ("tasks", _("Task list"))]
    FORMATS = [("csv", "CSV"), ("xlsx", _("Excel"))]

    kind = forms.ChoiceField(label=_("What"), choices=KINDS)
    date_from = IsoDateField(label=_("From"))
    date_to = IsoDateField(label=_("To (inclusive)"))
    file_format = forms.ChoiceField(label=_("Format"), choices=FORMATS)

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to"):
            if data["date_to"] < data["date_from"]:
                self.add_error("date_to", _("The end date must not be before the start date."))
            elif (data["date_to"] - data["date_from"]).days > 366:
                self.add_error("date_to", _("Export at most one year at a time."))
        return data

    def bounds(self) -> tuple[datetime, datetime]:
        start, _end = _day_bounds(self.cleaned_data["date_from"])
        _start, end = _day_bounds(self.cleaned_data["date_to"])
        return start, end
