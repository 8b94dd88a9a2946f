"""The four send forms. Each binds to a SendSpec and runs the same rules as the API."""

from __future__ import annotations

import json
import uuid

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from campaigns.codes import ApiCode, PushError
from campaigns.models import PushType, TargetType
from console.widgets import IsoDateTimeField
from templates_app.models import ClickAction, DisplayStyle, DisplayType, Template

from . import csvingest, rules, services

TARGET_TYPES = [
    (TargetType.USER, _("User id")),
    (TargetType.ANDROID_DEVICE, _("Device id (Android)")),
    (TargetType.IOS_DEVICE, _("Device id (iOS)")),
]
CHANNELS = [
    ("auto", _("Vendor channel when configured and the device is that vendor's, else self-built")),
    ("selfbuilt", _("Self-built channel only")),
]
UNBIND_PERIODS = [
    (1, _("Logged-in users only")),
    (2, _("Also users logged out within 7 days")),
    (3, _("Also users logged out within 15 days")),
    (4, _("Also users logged out within 60 days")),
    (5, _("Also users ever logged out")),
]
GROUP_TARGETS = [
    (TargetType.ALL, _("All devices of the platform")),
    (TargetType.TAG, _("Tag expression")),
    (TargetType.ACCOUNT, _("Accounts")),
    (TargetType.ALIAS, _("Aliases")),
]

# Which field a SPEC code belongs to, so the message sits next to it.
CODE_FIELDS = {
    ApiCode.SINGLE_PUSH_TARGET_TOO_MUCH: "targets",
    ApiCode.TOKEN_OR_USERID_NULL: "targets",
    ApiCode.MULTIPLE_TARGET_NUMBER_TOO_MUCH: "target_values",
    ApiCode.EXPIREDSECONDS_WRONG: "expire_seconds",
    ApiCode.EXPIREDTIME_TOO_LONG: "expire_seconds",
    ApiCode.EXTEND_PARAM_TO_MUCH: "extras",
    ApiCode.INVALID_EXTEND_PARAM: "extras",
    ApiCode.BADGE_ADD_NUM_NEED_BADGE_CLASS: "extras",
    ApiCode.BADGE_ADD_NUM_INVALID: "extras",
    ApiCode.TEMPLATEKV_NOT_ENOUGH: "values",
    ApiCode.NEED_TEMPLATE: "template",
    ApiCode.PAYLOAD_NOT_ENOUGH: "body",
    ApiCode.BROADCAST_ALL_USER_NEED_UNBIND_PERIOD: "unbind_period",
    ApiCode.BROADCAST_ALL_USER_UNBIND_PERIOD_INVALID: "unbind_period",
    ApiCode.BROADCAST_ALL_USER_NOT_SUPPORT_SELFCHANNEL_ANDROID: "unbind_period",
    ApiCode.ANDROID_CHANNEL_PARAM_INVALID: "channel",
}


def push_error_text(error: PushError) -> str:
    return _("%(message)s (code %(code)s)") % {"message": error.message, "code": int(error.code)}


class SendForm(forms.Form):
    """Fields every send has (SPEC "Sends": common fields)."""

    push_type = PushType.SIMPLE
    per_target = True

    idempotency_token = forms.CharField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(
        label=_("Task name"), max_length=200, required=False, help_text=_('Empty: "Console" and the time.')
    )
    customer_msg_id = forms.CharField(
        label=_("Customer message id"),
        max_length=rules.CUSTOMER_MSG_ID_MAX,
        help_text=_(
            "Generated for you; you may change it. At most 64 characters, unique in this app. "
            "With several targets each message gets -1, -2, ... appended."
        ),
    )
    channel = forms.ChoiceField(label=_("Android channel"), choices=CHANNELS, initial="auto")
    expire_seconds = forms.IntegerField(
        label=_("Valid period (seconds)"),
        initial=rules.EXPIRE_DEFAULT_SECONDS,
        min_value=1,
        max_value=rules.EXPIRE_MAX_SECONDS,
        help_text=_("Re-sent if the device comes online before it expires. At most 259200 (72 hours)."),
    )
    extras = forms.CharField(
        label=_("Extension parameters"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "One key=value per line, at most 20. Reserved: notifyType, action, silent, pushType, "
            "templateCode, channel, taskId. badge_add_num needs badge_class; big_text must be 1."
        ),
    )
    send_at = IsoDateTimeField(
        label=_("Send at"),
        required=False,
        help_text=_("Empty: send now. At most 7 days ahead, in your time zone."),
    )

    def __init__(self, *args, app, **kwargs):
        self.app = app
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("customer_msg_id", rules.new_customer_msg_id())
            self.initial.setdefault("idempotency_token", uuid.uuid4().hex)
        self.spec: services.SendSpec | None = None
        self.messages: list[dict] = []

    # Subclasses fill content and targets.
    def build_spec(self, data: dict) -> services.SendSpec:
        raise PushError(ApiCode.SYSTEM_ERROR, "form without targets")

    def _targets(self, data: dict, spec: services.SendSpec) -> None:
        targets = [t.strip() for t in (data.get("targets") or "").splitlines() if t.strip()]
        rules.check_single_targets(targets)
        cmid = data["customer_msg_id"].strip()
        if len(targets) == 1:
            spec.targets = [(targets[0], cmid)]
        else:
            spec.targets = [(t, f"{cmid}-{i}") for i, t in enumerate(targets, start=1)]

    def _common(self, data: dict, spec: services.SendSpec) -> None:
        spec.name = data.get("name") or ""
        spec.channel = data.get("channel") or "auto"
        spec.expire_seconds = data.get("expire_seconds") or rules.EXPIRE_DEFAULT_SECONDS
        spec.extras = rules.parse_extras_text(data.get("extras") or "")
        spec.scheduled_at = data.get("send_at")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            spec = self.build_spec(data)
            self._common(data, spec)
            self.messages = services.send_validate(app=self.app, spec=spec)
            self.spec = spec
        except PushError as error:
            target = CODE_FIELDS.get(error.code)
            if error.code == ApiCode.INVALID_PARAM and "scheduled" in error.message:
                target = "send_at"
            elif error.code == ApiCode.INVALID_PARAM and "customer message id" in error.message:
                target = "customer_msg_id"
            elif error.code == ApiCode.INVALID_PARAM and "click URL" in error.message:
                target = "url"
            elif error.code == ApiCode.INVALID_PARAM and "target id" in error.message:
                target = "targets"
            self.add_error(target if target in self.fields else None, push_error_text(error))
        return data

    @property
    def idempotency_key(self) -> str | None:
        token = self.cleaned_data.get("idempotency_token")
        return f"console:{token}" if token else None


class ContentMixin(forms.Form):
    display_type = forms.ChoiceField(label=_("Display type"), choices=DisplayType.choices)
    display_style = forms.ChoiceField(label=_("Display style"), choices=DisplayStyle.choices)
    title = forms.CharField(label=_("Title"), max_length=200)
    body = forms.CharField(label=_("Body"), max_length=200, widget=forms.Textarea(attrs={"rows": 3}))
    icon_url = forms.URLField(label=_("Icon URL"), required=False, max_length=500, assume_scheme="https")
    image_url = forms.URLField(label=_("Large image URL"), required=False, max_length=500, assume_scheme="https")
    click_action = forms.ChoiceField(label=_("Action upon click"), choices=ClickAction.choices)
    url = forms.CharField(label=_("URL or activity"), required=False, max_length=1000)


class SimpleSendForm(SendForm, ContentMixin):
    push_type = PushType.SIMPLE
    target_type = forms.ChoiceField(label=_("Target id type"), choices=TARGET_TYPES)
    targets = forms.CharField(
        label=_("Target ids"), widget=forms.Textarea(attrs={"rows": 3}), help_text=_("One per line, at most 10.")
    )

    field_order = [
        "target_type",
        "targets",
        "customer_msg_id",
        "channel",
        "display_type",
        "display_style",
        "title",
        "body",
        "icon_url",
        "image_url",
        "click_action",
        "url",
        "expire_seconds",
        "extras",
        "send_at",
        "name",
    ]

    def build_spec(self, data):
        spec = services.SendSpec(push_type=PushType.SIMPLE, target_type=data["target_type"])
        self._targets(data, spec)
        spec.display_type, spec.display_style = data["display_type"], data["display_style"]
        spec.title, spec.body = data["title"], data["body"]
        spec.icon_url, spec.image_url = data.get("icon_url", ""), data.get("image_url", "")
        spec.click_action = data["click_action"]
        if spec.click_action == ClickAction.OPEN_URL:
            spec.url = data.get("url", "")
            if not spec.url:
                raise PushError(ApiCode.INVALID_PARAM, "Open web URL needs a URL")
            rules.check_url(spec.url)
        else:
            spec.activity = data.get("url", "")
        return spec


class TemplateChoiceMixin(forms.Form):
    template = forms.ModelChoiceField(label=_("Template"), queryset=Template.objects.none())
    values = forms.CharField(
        label=_("Placeholder values"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One name=value per line, a value for every #placeholder#."),
    )

    def init_templates(self, app) -> None:
        self.fields["template"].queryset = (
            Template.objects.live().filter(app=app, current_version__isnull=False).select_related("current_version")
        )

    def template_values(self, data) -> dict[str, str]:
        values = {}
        for number, line in enumerate((data.get("values") or "").splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise PushError(ApiCode.TEMPLATEKV_NOT_ENOUGH, f"line {number}: write name=value")
            values[key.strip()] = value.strip()
        return values


# Where the template sends (template, broadcast) put their common fields, after their targets.
TEMPLATE_SEND_FIELDS = [
    "template",
    "values",
    "customer_msg_id",
    "channel",
    "expire_seconds",
    "extras",
    "send_at",
    "name",
]


class TemplateSendBase(SendForm, TemplateChoiceMixin):
    """A send whose content comes from a template version and placeholder values."""

    def __init__(self, *args, app, **kwargs):
        super().__init__(*args, app=app, **kwargs)
        self.init_templates(app)

    def _template_content(self, data: dict, spec: services.SendSpec) -> None:
        spec.template_version = data["template"].current_version
        spec.values = self.template_values(data)


class TemplateSendForm(TemplateSendBase):
    push_type = PushType.TEMPLATE
    target_type = forms.ChoiceField(label=_("Target id type"), choices=TARGET_TYPES)
    targets = forms.CharField(
        label=_("Target ids"), widget=forms.Textarea(attrs={"rows": 3}), help_text=_("One per line, at most 10.")
    )
    field_order = [
        "target_type",
        "targets",
        *TEMPLATE_SEND_FIELDS,
    ]

    def build_spec(self, data):
        spec = services.SendSpec(push_type=PushType.TEMPLATE, target_type=data["target_type"])
        self._template_content(data, spec)
        self._targets(data, spec)
        return spec


class BroadcastSendForm(TemplateSendBase):
    push_type = PushType.BROADCAST
    per_target = False
    platform = forms.ChoiceField(label=_("Platform"), choices=[("android", _("Android")), ("ios", _("iOS"))])
    target_kind = forms.ChoiceField(label=_("Audience"), choices=GROUP_TARGETS, initial=TargetType.ALL)
    unbind_period = forms.TypedChoiceField(label=_("Logged-out users"), choices=UNBIND_PERIODS, coerce=int, initial=1)
    target_values = forms.CharField(
        label=_("Accounts, aliases or device ids"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line, at most 1,000."),
    )
    targets_file = forms.FileField(
        label=_("Or a .txt file of ids"), required=False, help_text=_("UTF-8, one id per line, up to 30 MB.")
    )
    tag_expression = forms.CharField(
        label=_("Tag expression"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_('A tag name, or JSON: {"and": ["vip", {"not": "churned"}]}; "or" works the same way.'),
    )
    field_order = [
        "platform",
        "target_kind",
        "unbind_period",
        "target_values",
        "targets_file",
        "tag_expression",
        *TEMPLATE_SEND_FIELDS,
    ]

    def build_spec(self, data):
        kind = data["target_kind"]
        spec = services.SendSpec(push_type=PushType.BROADCAST, target_type=kind, platform=data["platform"])
        self._template_content(data, spec)
        spec.customer_msg_id = data["customer_msg_id"]
        spec.unbind_period = data.get("unbind_period")
        if kind == TargetType.TAG:
            text = (data.get("tag_expression") or "").strip()
            if not text:
                raise PushError(ApiCode.INVALID_PARAM, "write a tag expression")
            try:
                expression = json.loads(text) if text[:1] in '{["' else text
            except json.JSONDecodeError:
                raise PushError(ApiCode.INVALID_PARAM, "the tag expression is not valid JSON") from None
            from campaigns.audience import tag_q

            tag_q(expression)
            spec.tag_expression = expression
        elif kind != TargetType.ALL:
            values = [v.strip() for v in (data.get("target_values") or "").splitlines() if v.strip()]
            upload = data.get("targets_file")
            if upload is not None:
                try:
                    for value in csvingest.iter_target_ids(upload):
                        values.append(value)
                        if len(values) > rules.BATCH_MAX_TARGETS:
                            break
                except csvingest.NotUtf8 as exc:
                    raise PushError(
                        ApiCode.REQUEST_SHOULD_BE_UTF8, f"the file is not UTF-8 (line {exc.line_no})"
                    ) from None
            spec.target_values = values
        return spec

    def clean(self):
        upload = self.cleaned_data.get("targets_file")
        if upload is not None and upload.size > settings.PUSHDECK_TARGET_FILE_MAX_BYTES:
            self.add_error("targets_file", _("The file is larger than 30 MB."))
            return self.cleaned_data
        return super().clean()


class MultipleSendForm(TemplateChoiceMixin, forms.Form):
    """Step one of a multiple push: template, target type and the file (validated in the background)."""

    target_type = forms.ChoiceField(label=_("Target id type"), choices=TARGET_TYPES)
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "UTF-8, one message per line: targetId,customerMsgId,key1=value1,... "
            "Each line 1-250 characters; up to 200 MB."
        ),
    )
    channel = forms.ChoiceField(label=_("Android channel"), choices=CHANNELS, initial="auto")
    expire_seconds = SendForm.base_fields["expire_seconds"]
    extras = SendForm.base_fields["extras"]
    send_at = SendForm.base_fields["send_at"]
    name = SendForm.base_fields["name"]

    def __init__(self, *args, app, **kwargs):
        self.app = app
        super().__init__(*args, **kwargs)
        self.init_templates(app)
        self.fields["values"].widget = forms.HiddenInput()
        self.spec: services.SendSpec | None = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        spec = services.SendSpec(push_type=PushType.MULTIPLE, target_type=data["target_type"])
        spec.template_version = data["template"].current_version
        try:
            spec.channel = data["channel"]
            spec.expire_seconds = rules.check_expire_seconds(data.get("expire_seconds"))
            spec.extras = rules.check_extras(rules.parse_extras_text(data.get("extras") or ""))
            spec.scheduled_at = rules.check_schedule(data.get("send_at"))
            spec.name = data.get("name") or ""
        except PushError as error:
            field = CODE_FIELDS.get(error.code) or ("send_at" if "scheduled" in error.message else None)
            self.add_error(field if field in self.fields else None, push_error_text(error))
        self.spec = spec
        return data


class IdempotentForm(forms.Form):
    """Confirmation of a validated file, or an action on a task: carries the one-time token."""

    idempotency_token = forms.CharField(widget=forms.HiddenInput, required=False)


class UploadConfirmForm(IdempotentForm):
    """Confirmation of a checked file; one with bad lines needs the explicit choice to skip them."""

    skip_bad = forms.BooleanField(label=_("Skip the bad lines and send the good ones"), required=False)


class ContinuousCreateForm(forms.Form):
    """Continuous push, step one: the message without targets."""

    idempotency_token = forms.CharField(widget=forms.HiddenInput, required=False)
    name = SendForm.base_fields["name"]
    display_type = ContentMixin.base_fields["display_type"]
    title = ContentMixin.base_fields["title"]
    body = ContentMixin.base_fields["body"]
    channel = forms.ChoiceField(label=_("Android channel"), choices=CHANNELS, initial="auto")
    expire_seconds = SendForm.base_fields["expire_seconds"]
    extras = SendForm.base_fields["extras"]

    def __init__(self, *args, app, **kwargs):
        self.app = app
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_token", uuid.uuid4().hex)
        self.spec: services.SendSpec | None = None

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        spec = services.SendSpec(push_type=PushType.CONTINUOUS, target_type=TargetType.DEVICE)
        spec.name, spec.display_type = data.get("name") or "", data["display_type"]
        spec.title, spec.body, spec.channel = data["title"], data["body"], data["channel"]
        try:
            spec.expire_seconds = rules.check_expire_seconds(data.get("expire_seconds"))
            spec.extras = rules.check_extras(rules.parse_extras_text(data.get("extras") or ""))
        except PushError as error:
            self.add_error(CODE_FIELDS.get(error.code), push_error_text(error))
        self.spec = spec
        return data


class ContinuousBatchForm(forms.Form):
    """Continuous push, each further step: one more batch of targets."""

    idempotency_token = forms.CharField(widget=forms.HiddenInput, required=False)
    target_kind = forms.ChoiceField(
        label=_("Targets are"),
        choices=[
            (TargetType.DEVICE, _("Device ids")),
            (TargetType.ACCOUNT, _("Accounts")),
            (TargetType.ALIAS, _("Aliases")),
        ],
    )
    target_values = forms.CharField(
        label=_("Targets"), widget=forms.Textarea(attrs={"rows": 4}), help_text=_("One per line, at most 1,000.")
    )

    def clean_target_values(self):
        values = [v.strip() for v in self.cleaned_data["target_values"].splitlines() if v.strip()]
        if len(values) > rules.BATCH_MAX_TARGETS:
            raise forms.ValidationError(_("At most 1,000 targets per batch (code 3055)."))
        return values
