"""Template forms: every field of the SPEC, image checks, sample values and CSV rows for the preview."""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from console.validation import http_url_ok, text_ok

from . import rendering
from .images import ImageProfile, check_image
from .models import ClickAction, DisplayStyle, DisplayType, Template, template_name_validator

PREVIEW_CSV_ROWS = 5
CSV_LINE_MAX_CHARS = 250
# Only the first rows are previewed: reading more of a dropped file is pointless.
PREVIEW_CSV_MAX_BYTES = 64 * 1024


def no_control_characters(value: str) -> None:
    """The one free-text rule (console.validation): line breaks and tabs, no other control characters."""
    if value and not text_ok(value):
        raise ValidationError(_("Control characters are not allowed here."), code="control")


def _url_ok(value: str) -> bool:
    """A URL with placeholders is valid when a filled-in version of it is."""
    return http_url_ok(value, placeholders=rendering.PLACEHOLDER_RE)


class TemplateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        validators=[template_name_validator],
        help_text=_("Letters, digits and underscores; the server API refers to the template by this name."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, validators=[no_control_characters])
    display_type = forms.ChoiceField(label=_("Display type"), choices=DisplayType.choices)
    display_style = forms.ChoiceField(label=_("Display style"), choices=DisplayStyle.choices)
    title = forms.CharField(
        label=_("Title"),
        max_length=rendering.TITLE_MAX_CHARS,
        help_text=_("Write placeholders as #name#."),
        validators=[no_control_characters],
    )
    body = forms.CharField(
        label=_("Body"),
        max_length=rendering.BODY_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        validators=[no_control_characters],
    )
    click_action = forms.ChoiceField(label=_("Action upon click"), choices=ClickAction.choices)
    url = forms.CharField(
        label=_("Web URL"),
        max_length=rendering.URL_MAX_CHARS,
        required=False,
        help_text=_("Needed when a click opens a web URL; placeholders are allowed."),
    )
    activity = forms.CharField(label=_("Activity"), max_length=255, required=False)
    image_profile = forms.ChoiceField(
        label=_("Icon rules"), choices=ImageProfile.choices, initial=ImageProfile.DEFAULT, required=False
    )
    icon = forms.FileField(label=_("Icon upload (JPG/PNG)"), required=False)
    icon_url = forms.URLField(label=_("or icon URL"), max_length=500, required=False, assume_scheme="https")
    image = forms.FileField(label=_("Large image upload (JPG/PNG, 876x324 px)"), required=False)
    image_url = forms.URLField(label=_("or large image URL"), max_length=500, required=False, assume_scheme="https")
    remove_icon = forms.BooleanField(label=_("Remove the current uploaded icon"), required=False)
    remove_image = forms.BooleanField(label=_("Remove the current uploaded large image"), required=False)

    def __init__(self, *args, app, template: Template | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self.template = template
        for field in self.fields.values():
            if isinstance(field.widget, forms.FileInput):
                field.widget.attrs["accept"] = "image/png,image/jpeg"
        version = template.current_version if template is not None else None
        if version is not None and version.icon:
            self.fields["icon"].help_text = _("Leave empty to keep the current icon.")
        else:
            del self.fields["remove_icon"]
        if version is not None and version.image:
            self.fields["image"].help_text = _("Leave empty to keep the current image.")
        else:
            del self.fields["remove_image"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        clash = Template.objects.live().filter(app=self.app, name=name)
        if self.template is not None:
            clash = clash.exclude(pk=self.template.pk)
        if clash.exists():
            raise ValidationError(
                _("A template named “%(name)s” already exists in this app.") % {"name": name}, code="exists"
            )
        return name

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        if url and not _url_ok(url):
            raise ValidationError(_("Enter an http:// or https:// URL (placeholders like #id# are allowed)."))
        return url

    def _clean_upload(self, name: str, kind: str):
        upload = self.cleaned_data.get(name)
        if not upload:
            return None
        return check_image(upload, kind=kind, profile=self.data.get("image_profile") or ImageProfile.DEFAULT)

    def clean_icon(self):
        return self._clean_upload("icon", "icon")

    def clean_image(self):
        return self._clean_upload("image", "image")

    def clean(self):
        data = super().clean()
        if data.get("click_action") == ClickAction.OPEN_URL and not data.get("url") and "url" not in self.errors:
            self.add_error("url", _("A click that opens a web URL needs the URL."))
        if data.get("icon") and data.get("icon_url"):
            self.add_error("icon_url", _("Give the icon either as an upload or as a URL, not both."))
        if data.get("image") and data.get("image_url"):
            self.add_error("image_url", _("Give the large image either as an upload or as a URL, not both."))
        if not data.get("image_profile"):
            data["image_profile"] = ImageProfile.DEFAULT
        return data


@dataclass(frozen=True)
class SampleRow:
    label: str
    values: dict[str, str]


def parse_sample_values(text: str) -> dict[str, str]:
    """`key=value` lines typed by the marketer; blank lines are skipped."""
    values = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            raise ValidationError(
                _("Line %(line)s: write each sample value as key=value.") % {"line": line_no}, code="sample"
            )
        key, value = line.split("=", 1)
        values[key.strip()] = value
    return values


def parse_send_csv(data: bytes, *, limit: int = PREVIEW_CSV_ROWS) -> list[SampleRow]:
    """The first `limit` lines of a multiple-push file: `targetId,customerMsgId,key1=value1,...`."""
    text = None
    # The read limit may cut the last character in half: drop up to 3 trailing bytes.
    for cut in range(4 if len(data) >= PREVIEW_CSV_MAX_BYTES else 1):
        try:
            text = data[: len(data) - cut].decode("utf-8-sig")
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise ValidationError(_("The file is not UTF-8 text."), code="encoding")
    rows: list[SampleRow] = []
    errors: list[str] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if len(rows) >= limit:
            break
        if not line.strip():
            continue
        if len(line) > CSV_LINE_MAX_CHARS:
            errors.append(_("Line %(line)s is longer than 250 characters.") % {"line": line_no})
            continue
        cells = next(csv.reader(io.StringIO(line)))
        if len(cells) < 2 or not cells[0].strip() or not cells[1].strip():
            errors.append(_("Line %(line)s needs targetId,customerMsgId first.") % {"line": line_no})
            continue
        values = {}
        bad = [cell for cell in cells[2:] if "=" not in cell]
        if bad:
            errors.append(_("Line %(line)s: “%(cell)s” is not key=value.") % {"line": line_no, "cell": bad[0]})
            continue
        for cell in cells[2:]:
            key, value = cell.split("=", 1)
            values[key.strip()] = value
        rows.append(SampleRow(label=f"{cells[0].strip()} · {cells[1].strip()}", values=values))
    if errors:
        raise ValidationError(errors)
    if not rows:
        raise ValidationError(_("The file has no lines to preview."))
    return rows


class PreviewForm(forms.Form):
    """What the editor sends on every keystroke. Nothing is saved; every field is optional."""

    title = forms.CharField(required=False, max_length=1000)
    body = forms.CharField(required=False, max_length=4000)
    url = forms.CharField(required=False, max_length=2000)
    activity = forms.CharField(required=False, max_length=255)
    display_type = forms.ChoiceField(required=False, choices=DisplayType.choices)
    display_style = forms.ChoiceField(required=False, choices=DisplayStyle.choices)
    click_action = forms.ChoiceField(required=False, choices=ClickAction.choices)
    icon_url = forms.CharField(required=False, max_length=500)
    image_url = forms.CharField(required=False, max_length=500)
    image_profile = forms.ChoiceField(required=False, choices=ImageProfile.choices)
    icon = forms.FileField(required=False)
    image = forms.FileField(required=False)
    remove_icon = forms.BooleanField(required=False)
    remove_image = forms.BooleanField(required=False)
    sample_values = forms.CharField(required=False, max_length=10000)
    sample_csv = forms.FileField(required=False)

    csv_received: dict | None = None

    def _http_url(self, name: str) -> str:
        """The one URL rule of every form: the preview shows no link the save would refuse."""
        value = (self.cleaned_data.get(name) or "").strip()
        if value and not _url_ok(value):
            raise ValidationError(_("Enter an http:// or https:// URL (placeholders like #id# are allowed)."))
        return value

    def clean_url(self) -> str:
        return self._http_url("url")

    def clean_icon_url(self) -> str:
        return self._http_url("icon_url")

    def clean_image_url(self) -> str:
        return self._http_url("image_url")

    def clean_sample_values(self) -> dict[str, str]:
        return parse_sample_values(self.cleaned_data.get("sample_values") or "")

    def clean_sample_csv(self) -> list[SampleRow]:
        upload = self.cleaned_data.get("sample_csv")
        if not upload:
            return []
        # What arrived: the editor's script sends only the start of a big file.
        self.csv_received = {"name": upload.name, "size": upload.size}
        return parse_send_csv(upload.read(PREVIEW_CSV_MAX_BYTES))

    def image_problems(self) -> dict[str, list[str]]:
        """Image rule messages for the files chosen so far (the preview shows them before saving)."""
        problems = {}
        self.checked_images = {}
        profile = self.cleaned_data.get("image_profile") or ImageProfile.DEFAULT
        for name in ("icon", "image"):
            upload = self.cleaned_data.get(name)
            if upload:
                try:
                    self.checked_images[name] = check_image(upload, kind=name, profile=profile)
                except ValidationError as error:
                    problems[name] = error.messages
        return problems

    def chosen_image_sources(self) -> dict[str, str]:
        """data: URLs of the files chosen and not yet saved that pass the rules (after image_problems)."""
        return {
            name: f"data:{checked.content_type};base64,{base64.b64encode(checked.data).decode()}"
            for name, checked in getattr(self, "checked_images", {}).items()
        }


class TemplateSearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
