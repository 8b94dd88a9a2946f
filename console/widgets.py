"""ISO date and date-time inputs: plain text fields that read and show `YYYY-MM-DD [HH:MM]`.

Native pickers show the browser locale's format (mm/dd/yyyy, 12-hour clock) while every
page of the console shows ISO dates, so the inputs are text with the format spelled out.
Values are read in the viewer's time zone, the one the middleware activates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

ISO_DATE = "%Y-%m-%d"
ISO_DATETIME = "%Y-%m-%d %H:%M"
# What is shown is the first; the rest are what people paste (seconds, the "T" of ISO 8601).
ISO_DATETIME_INPUTS = [ISO_DATETIME, "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]

# No inputmode="numeric": phone number pads have no "-" or ":" (iOS) and no space, so the
# values could not be typed; the default text keyboard has them all.
_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
_DATETIME_PATTERN = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?"


def zone_label(at: datetime | None = None) -> str:
    """The active zone as shown next to a time input: "Asia/Shanghai, UTC+08:00"."""
    offset = timezone.localtime(at or timezone.now()).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    hours, minutes = divmod(abs(minutes), 60)
    sign = "-" if offset < timedelta(0) else "+"
    return f"{timezone.get_current_timezone_name()}, UTC{sign}{hours:02d}:{minutes:02d}"


class IsoDateInput(forms.DateInput):
    """A text input for `YYYY-MM-DD`; its widget_type is "isodate"."""

    input_type = "text"

    def __init__(self, attrs: dict | None = None):
        defaults = {
            # Translators: the date format shown in an empty date field; keep the letters or use your own.
            "placeholder": _("YYYY-MM-DD"),
            "pattern": _DATE_PATTERN,
            "title": _("A date as YYYY-MM-DD"),
            "inputmode": "text",
            "autocomplete": "off",
            "size": 10,
        }
        super().__init__(attrs={**defaults, **(attrs or {})}, format=ISO_DATE)


class IsoDateTimeInput(forms.DateTimeInput):
    """A text input for `YYYY-MM-DD HH:MM` (24 h); its widget_type is "isodatetime"."""

    input_type = "text"

    def __init__(self, attrs: dict | None = None):
        defaults = {
            # Translators: the date and time format shown in an empty field (24-hour clock).
            "placeholder": _("YYYY-MM-DD HH:MM"),
            "pattern": _DATETIME_PATTERN,
            "title": _("A date and time as YYYY-MM-DD HH:MM, 24-hour clock"),
            "inputmode": "text",
            "autocomplete": "off",
            "size": 16,
        }
        super().__init__(attrs={**defaults, **(attrs or {})}, format=ISO_DATETIME)


class IsoDateField(forms.DateField):
    """A date given as `YYYY-MM-DD` only (03/04/2025 means two different days to two readers)."""

    widget = IsoDateInput
    input_formats = [ISO_DATE]
    default_error_messages = {
        "invalid": _("Enter the date as YYYY-MM-DD, for example 2025-03-31."),
    }


class IsoDateTimeField(forms.DateTimeField):
    """A date and time given as `YYYY-MM-DD HH:MM` (24 h), read in the viewer's time zone."""

    widget = IsoDateTimeInput
    input_formats = ISO_DATETIME_INPUTS
    default_error_messages = {
        "invalid": _("Enter the date and time as YYYY-MM-DD HH:MM (24-hour clock), for example 2025-03-31 14:30."),
    }

    def to_python(self, value):
        # Django's own parsing also takes ISO 8601 forms with an offset or a date alone; a
        # console field takes what its placeholder shows, read in the viewer's zone.
        if isinstance(value, str) and value.strip():
            text = value.strip()
            for fmt in self.input_formats:
                try:
                    parsed = datetime.strptime(text, fmt)
                except ValueError:
                    continue
                return super().to_python(parsed)
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)
