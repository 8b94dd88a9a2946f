"""Devices, sends (tasks), messages, per-device deliveries, timelines, receipts and rollups.

A console or API submission is a PushTask. It holds one Message per target line
(simple/template: one per target id; multiple: one per CSV line; broadcast: one).
Each Message fans out to one Delivery per resolved device; the unique
(message, device) pair is what makes delivery idempotent. StatusEvent is the
timeline, ReceiptEvent the device/gateway events, UsageRollup the analysis figures.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

import campaigns.lookups  # noqa: F401  (registers the `__any` lookup)
from console.fields import EncryptedTextField
from console.models import App
from templates_app.models import TemplateVersion

from .codes import PushStatus


class Platform(models.TextChoices):
    ANDROID = "android", _("Android")
    IOS = "ios", _("iOS")


class Channel(models.TextChoices):
    SELF_BUILT = "selfbuilt", _("Self-built channel")
    APNS = "apns", _("APNs")
    FCM = "fcm", _("FCM")
    HUAWEI = "huawei", _("Huawei")
    XIAOMI = "xiaomi", _("Xiaomi")
    OPPO = "oppo", _("OPPO")
    VIVO = "vivo", _("vivo")
    HONOR = "honor", _("Honor")
    MEIZU = "meizu", _("Meizu")
    SANDBOX = "sandbox", _("Sandbox gateway")


class PushType(models.TextChoices):
    SIMPLE = "SIMPLE", _("Simple")
    TEMPLATE = "TEMPLATE", _("Template")
    MULTIPLE = "MULTIPLE", _("Multiple")
    BROADCAST = "BROADCAST", _("Broadcast")
    CONTINUOUS = "CONTINUOUS", _("Continuous")


class TargetType(models.TextChoices):
    USER = "user", _("User id")
    ANDROID_DEVICE = "android_device", _("Android device")
    IOS_DEVICE = "ios_device", _("iOS device")
    DEVICE = "device", _("Device")
    ACCOUNT = "account", _("Account")
    ALIAS = "alias", _("Alias")
    TAG = "tag", _("Tag expression")
    ALL = "all", _("All devices")


# Target types whose ids are device ids: each names at most one device of the app.
DEVICE_TARGETS = frozenset({TargetType.DEVICE, TargetType.ANDROID_DEVICE, TargetType.IOS_DEVICE})


class ApnsEnvironment(models.TextChoices):
    PRODUCTION = "production", _("Production")
    DEVELOPMENT = "development", _("Development")


class Device(models.Model):
    # No index of its own: the unique (app, device_id) serves every lookup by app.
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="devices", db_index=False)
    device_id = models.CharField(_("device id"), max_length=128)
    platform = models.CharField(max_length=10, choices=Platform.choices)
    manufacturer = models.CharField(max_length=40, blank=True)
    package_name = models.CharField(max_length=255, blank=True)
    # Vendor push channel of the device (huawei, xiaomi, ...) and its token there.
    vendor = models.CharField(max_length=10, blank=True)
    vendor_token = models.CharField(max_length=512, blank=True)
    apns_token = models.CharField(max_length=200, blank=True)
    # The APNs environment of the build that registered the token ("" = not reported: production).
    apns_environment = models.CharField(
        _("APNs environment"), max_length=12, choices=ApnsEnvironment.choices, blank=True
    )
    fcm_token = models.CharField(max_length=512, blank=True)
    app_version = models.CharField(max_length=40, blank=True)
    account = models.CharField(max_length=128, blank=True)
    phone_number = models.CharField(max_length=32, blank=True)
    # Self-built channel: online while the device holds its connection.
    online = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    logged_in = models.BooleanField(default=True)
    logged_out_at = models.DateTimeField(null=True, blank=True)
    # A gateway said the token is dead (APNs 410, FCM UNREGISTERED, vendor invalid token).
    token_dead_at = models.DateTimeField(null=True, blank=True)
    token_dead_reason = models.CharField(max_length=120, blank=True)
    is_test_device = models.BooleanField(_("test device"), default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # The device's own client-API credential, issued once by device/report (HMAC key of its calls).
    client_secret = EncryptedTextField(blank=True, default="", editable=False)
    client_secret_issued_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "device_id"], name="device_unique_per_app")]
        indexes = [
            models.Index(fields=["app", "platform"], name="device_app_platform"),
            models.Index(fields=["app", "account"], name="device_app_account"),
            # The offline sweep reads only the online devices (a few of millions), by last poll.
            models.Index(fields=["last_seen_at"], condition=models.Q(online=True), name="device_online_seen"),
        ]

    def __str__(self) -> str:
        return self.device_id


class UserBinding(models.Model):
    """A user id bound to a device (bind on login, unbind on logout)."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="user_bindings")
    user_id = models.CharField(max_length=128)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="user_bindings")
    bound_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "user_id", "device"], name="binding_unique")]
        indexes = [models.Index(fields=["app", "user_id"], name="binding_app_user")]


class DeviceAlias(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=128)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "alias"], name="alias_unique_per_device")]
        indexes = [models.Index(fields=["app", "alias"], name="alias_app_alias")]


class Tag(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    devices = models.ManyToManyField(Device, related_name="tags", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "name"], name="tag_unique_per_app")]


class TaskStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    VALIDATING = "validating", _("Validating upload")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    SCHEDULED = "scheduled", _("Scheduled")
    QUEUED = "queued", _("Queued")
    INGESTING = "ingesting", _("Ingesting")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    CANCELLED = "cancelled", _("Cancelled")
    STOPPED = "stopped", _("Stopped")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Failed")


class PushTask(models.Model):
    """One send: a console form submission or one server API call."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    name = models.CharField(_("task name"), max_length=200)
    push_type = models.CharField(max_length=12, choices=PushType.choices)
    source = models.CharField(max_length=10, choices=[("console", _("Console")), ("api", _("API"))])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    api_caller = models.CharField(max_length=100, blank=True)
    template_version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    # The whole send specification as submitted (target type, channel, display,
    # placeholder values, extension parameters, ...). Immutable once submitted.
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=TaskStatus.choices, default=TaskStatus.QUEUED)
    status_reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=128, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Progress and figures, updated with F() expressions by the workers.
    total_rows = models.PositiveBigIntegerField(default=0)
    ingested_rows = models.PositiveBigIntegerField(default=0)
    target_count = models.PositiveBigIntegerField(default=0)
    pushed = models.PositiveBigIntegerField(default=0)
    succeeded = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    arrived = models.PositiveBigIntegerField(default=0)
    opened = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["app", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="task_idempotency_unique",
            )
        ]
        # Every API push is a task, so each index here is written once per push. Time indexes
        # are ascending: a new row lands at the right edge of its range (PostgreSQL's fast path,
        # pages left full), and a backward scan reads them newest first. The user and template
        # references are indexed only where set (for the rare delete of a user or a version).
        indexes = [
            models.Index(fields=["app", "push_type", "created_at"], name="task_app_type_time"),
            # The task list (every push type) and the overview's recent sends, newest first.
            models.Index(fields=["app", "created_at", "id"], name="task_app_time"),
            models.Index(fields=["status", "scheduled_at"], name="task_status_scheduled"),
            models.Index(fields=["created_by"], condition=models.Q(created_by__isnull=False), name="task_created_by"),
            models.Index(
                fields=["approved_by"], condition=models.Q(approved_by__isnull=False), name="task_approved_by"
            ),
            models.Index(
                fields=["template_version"],
                condition=models.Q(template_version__isnull=False),
                name="task_template_version",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def duration(self) -> float | None:
        if not self.started_at:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class TaskChannelCount(models.Model):
    """Per send and channel: deliveries sent (accepted), arrived, clicked and cleared.

    Bumped where those delivery timestamps are first set (campaigns.delivery.status), so the
    push records page reads a few rows per send instead of counting millions of deliveries.
    Kept, like the task's own counters, when retention deletes the messages.
    """

    # Covered by the unique constraint, which leads with the task.
    task = models.ForeignKey(PushTask, on_delete=models.CASCADE, related_name="channel_counts", db_index=False)
    channel = models.CharField(max_length=10)
    sent = models.PositiveBigIntegerField(default=0)
    arrived = models.PositiveBigIntegerField(default=0)
    clicked = models.PositiveBigIntegerField(default=0)
    cleared = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "channel"], name="task_channel_count_unique")]


class MessageState(models.TextChoices):
    PENDING = "pending", _("Pending")
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    WAITING = "waiting", _("Waiting for device")
    ACCEPTED = "accepted", _("Accepted")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")


FINAL_STATES = frozenset({MessageState.ACCEPTED, MessageState.FAILED, MessageState.EXPIRED, MessageState.CANCELLED})


class Message(models.Model):
    """One target line of a send. Immutable content; status fields move forward only."""

    # Both lead composite indexes below (the unique constraint, message_task_state): a
    # single-column index more would only slow down the bulk inserts of big sends. No database
    # constraint either: its check per inserted row cost up to 40 % of a big send's insert; the
    # ORM's cascade removes a deleted app's or task's messages.
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="messages", db_index=False, db_constraint=False)
    task = models.ForeignKey(
        PushTask, on_delete=models.CASCADE, related_name="messages", db_index=False, db_constraint=False
    )
    customer_msg_id = models.CharField(_("customer message id"), max_length=64)
    push_type = models.CharField(max_length=12, choices=PushType.choices)
    target_type = models.CharField(max_length=16, choices=TargetType.choices)
    target_id = models.CharField(max_length=255, blank=True)
    platform = models.CharField(max_length=10, choices=Platform.choices, blank=True)
    title = models.CharField(max_length=400, blank=True)
    body = models.TextField(blank=True)
    # Rendered extras: click action, URL, display type/style, icon, image, extension parameters.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=MessageState.choices, default=MessageState.PENDING)
    status = models.IntegerField(default=PushStatus.WAITING_FOR_VERIFY)
    status_desc = models.CharField(max_length=300, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    # A fan-out message (account, alias, tag, everyone): how many devices the dispatch resolved.
    # It is final once every range of it (FanoutRange) is done and its deliveries are final.
    fanout_devices = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "customer_msg_id"], name="customer_msg_id_unique_per_app")
        ]
        indexes = [
            # Ascending, read backward for newest first: inserts take the right edge (see PushTask).
            models.Index(fields=["app", "created_at", "id"], name="message_app_time"),
            models.Index(fields=["app", "target_id", "-created_at"], name="message_app_target"),
            models.Index(fields=["task", "state"], name="message_task_state"),
            # The expiry sweep looks only at dispatched messages still open past their valid
            # period: a small partial index (final ones leave it; an ingest's pending rows never
            # enter it). Retention walks message_app_time, oldest first, app by app.
            models.Index(
                fields=["expires_at"],
                name="message_expiry_open",
                condition=models.Q(state__in=["queued", "sending", "waiting"]),
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} ({self.customer_msg_id})"

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or timezone.now()) >= self.expires_at


class FanoutRange(models.Model):
    """One keyset range [first, last] of device ids a fan-out message was dispatched in. Its chunk
    marks it done in the transaction that creates its deliveries: the message is final once every
    range is done and every delivery is final, even when a device of a range was deleted, logged
    out or otherwise not sendable by the time its chunk ran."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="fanout_ranges", db_index=False, db_constraint=False
    )
    first_device = models.BigIntegerField()
    last_device = models.BigIntegerField()
    done = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "first_device"], name="fanout_range_unique_message_first")
        ]

    def __str__(self) -> str:
        return f"range {self.first_device}-{self.last_device} of message {self.message_id}"


class Delivery(models.Model):
    """A message on one device. Unique per (message, device): a retry never pushes twice."""

    # Covered by delivery_unique_message_device and delivery_device_created.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=10, choices=MessageState.choices, default=MessageState.QUEUED)
    status = models.IntegerField(default=PushStatus.DEVICE_NOT_ONLINE)
    gateway_code = models.IntegerField(null=True, blank=True)
    gateway_reason = models.CharField(max_length=200, blank=True)
    # The vendor's id of the accepted send (apns-id, FCM name, Huawei / Honor requestId, Xiaomi data.id,
    # OPPO messageId, vivo taskId, Meizu msgId): what the vendor's support asks for.
    gateway_message_id = models.CharField(max_length=100, blank=True, default="", db_default="")
    # Sent as apns-id / collapse id so a re-send after a crash shows one notification.
    push_id = models.UUIDField(default=uuid.uuid4, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A retry further away than the broker can hold a countdown: the beat sweep queues it then.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    ignored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "device"], name="delivery_unique_message_device")]
        # A state change rewrites the row into every index below (state is in their predicates,
        # so no update is HOT): each index costs a write per delivery per step of its life.
        # None is on state itself: the engine finds deliveries by key, by message or by device.
        indexes = [
            models.Index(fields=["device", "-created_at"], name="delivery_device_created"),
            # Open deliveries of a message: "is this broadcast done?" stays cheap at 100k devices.
            models.Index(
                fields=["message"],
                name="delivery_open_by_message",
                condition=models.Q(state__in=["pending", "queued", "sending", "waiting"]),
            ),
            # The sweeps: parked retries that are due, and claims of workers that died mid-send.
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_parked",
                condition=models.Q(next_attempt_at__isnull=False),
            ),
            models.Index(fields=["updated_at"], name="delivery_sending", condition=models.Q(state="sending")),
        ]


class StatusEvent(models.Model):
    """The timeline of a message and its deliveries."""

    # No constraints on the log tables' relations: a constraint checks, per deleted message or
    # delivery, every table that names it, and that check cost retention more than its deletes.
    # campaigns.retention and the ORM's cascade delete these rows with their message.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.CASCADE, related_name="events", db_constraint=False
    )
    at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=MessageState.choices)
    status = models.IntegerField()
    description = models.CharField(max_length=300, blank=True)
    channel = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["message", "at"], name="statusevent_message_at"),
            # The message's own events (no delivery): one device's timeline of a broadcast
            # reads these without walking every other device's events.
            models.Index(fields=["message", "at"], name="statusevent_message_level", condition=models.Q(delivery=None)),
        ]


class ReceiptEventType(models.TextChoices):
    SENT = "sent", _("Sent")
    SENT_FAIL = "sent_fail", _("Send failed")
    ARRIVE = "arrive", _("Arrived")
    CLICK = "click", _("Clicked")
    CLEAN = "clean", _("Cleared")
    IGNORE = "ignore", _("Ignored")


class ReceiptEvent(models.Model):
    # One row per receipt: no single-column indexes, the two below lead with app and message.
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+", db_index=False)
    # No constraint: see StatusEvent.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="receipts", db_constraint=False, db_index=False
    )
    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    event = models.CharField(max_length=10, choices=ReceiptEventType.choices)
    channel = models.CharField(max_length=10, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["app", "at", "id"], name="receipt_app_time"),
            models.Index(fields=["message", "at"], name="receipt_message_at"),
        ]


class Granularity(models.TextChoices):
    MINUTE = "minute", _("Minute")
    HOUR = "hour", _("Hour")


class UsageRollup(models.Model):
    """Analysis figures per bucket and dimension, kept up to date as statuses change.

    Minute buckets serve ranges of a day or less; hour buckets serve the rest
    (day buckets are summed from hours in the viewer's time zone).
    """

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    granularity = models.CharField(max_length=6, choices=Granularity.choices)
    bucket = models.DateTimeField()
    platform = models.CharField(max_length=10, blank=True)
    app_version = models.CharField(max_length=40, blank=True)
    channel = models.CharField(max_length=10, blank=True)
    push_type = models.CharField(max_length=12, blank=True)
    pushed = models.PositiveBigIntegerField(default=0)
    arrived = models.PositiveBigIntegerField(default=0)
    opened = models.PositiveBigIntegerField(default=0)
    ignored = models.PositiveBigIntegerField(default=0)
    cleared = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["app", "granularity", "bucket", "platform", "app_version", "channel", "push_type"],
                name="rollup_unique_bucket",
            )
        ]


class UploadStatus(models.TextChoices):
    """A checked file: uploaded -> validating -> valid | partial | invalid; valid or partial -> used | expired."""

    UPLOADED = "uploaded", _("Uploaded")
    VALIDATING = "validating", _("Checking")
    VALID = "valid", _("Valid")
    PARTIAL = "partial", _("Has bad lines")  # its good lines may be sent without them
    INVALID = "invalid", _("Invalid")
    USED = "used", _("Sent")
    EXPIRED = "expired", _("Expired")


UPLOAD_WORKING = (UploadStatus.UPLOADED, UploadStatus.VALIDATING)
UPLOAD_SENDABLE = (UploadStatus.VALID, UploadStatus.PARTIAL)


class SendUpload(models.Model):
    """An uploaded CSV (multiple push) or .txt target file, validated while streamed."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="uploads")
    kind = models.CharField(max_length=10, choices=[("csv", "CSV"), ("targets", _("Target list"))])
    file = models.FileField(upload_to="uploads/%Y/%m/")
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    line_count = models.PositiveBigIntegerField(default=0)
    good_count = models.PositiveBigIntegerField(default=0)
    bad_count = models.PositiveBigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    preview = models.JSONField(default=list, blank=True)
    report = models.FileField(upload_to="uploads/reports/%Y/%m/", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=UploadStatus.choices, default=UploadStatus.UPLOADED)
    bytes_done = models.PositiveBigIntegerField(default=0)
    template_version = models.ForeignKey(
        TemplateVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The send form's other fields, kept until confirmation.
    params = models.JSONField(default=dict, blank=True)
    failure = models.CharField(max_length=300, blank=True)


class SendUploadRow(models.Model):
    """A validated, rendered CSV line waiting for confirmation (filled with COPY).

    Staging only: on PostgreSQL the table is UNLOGGED (a crash loses uploads not yet
    confirmed, which are simply uploaded again) and has one index, (upload, line number),
    so COPY stays close to its bare speed and the ingest reads line ranges in order;
    duplicates are found by one sort afterwards.
    """

    upload = models.ForeignKey(
        SendUpload, on_delete=models.CASCADE, related_name="rows", db_index=False, db_constraint=False
    )
    line_no = models.PositiveBigIntegerField()
    target_id = models.CharField(max_length=255)
    customer_msg_id = models.CharField(max_length=64)
    title = models.CharField(max_length=400)
    body = models.TextField()
    url = models.CharField(max_length=1000, blank=True)
    extras = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["upload", "line_no"], name="senduploadrow_upload_line")]


class CallbackAttempt(models.Model):
    """One POST of a delivery receipt to the app's callback URL."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    # No constraints: see StatusEvent.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="callback_attempts", db_constraint=False
    )
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    url = models.URLField(max_length=500)
    body = models.JSONField(default=dict)
    attempt = models.PositiveSmallIntegerField(default=1)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    succeeded = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now)


class SmsMessage(models.Model):
    """An SMS sent as fallback for a message that did not arrive (or was not clicked)."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    delivery = models.OneToOneField(Delivery, on_delete=models.CASCADE, related_name="sms", db_constraint=False)
    phone_number = models.CharField(max_length=32)
    provider = models.CharField(max_length=40)
    state = models.CharField(max_length=12, default="queued")
    provider_message_id = models.CharField(max_length=120, blank=True)
    error = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)
