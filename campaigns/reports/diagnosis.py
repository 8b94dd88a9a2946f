"""Troubleshooting: a message id (and optionally a device id) in, plain-language findings out.

Each finding carries the evidence it rests on (timeline rows, gateway code, device and
credential state) so a support person can check the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.codes import APNS_REASON_CODES, GATEWAY_CODE_TEXT, PushStatus, status_text
from campaigns.models import Channel, Delivery, Device, Message, MessageState, Platform, SmsMessage, TargetType
from console.models import ApnsCertificate, ApnsTokenKey, App, FcmCredential, VendorChannel

from .selectors import TimelinePage, delivery_for_device, device_timeline, message_timeline


def _when(at) -> str:
    """A time in the explanation: the viewer's zone, with its offset so the zone is named."""
    return timezone.localtime(at).isoformat(sep=" ", timespec="seconds")


WRONG_ENVIRONMENT_CODES = {APNS_REASON_CODES["BadCertificateEnvironment"], APNS_REASON_CODES["BadDeviceToken"]}


@dataclass
class Finding:
    kind: str  # machine-readable, for tests and styling
    text: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class Diagnosis:
    message: Message | None
    device: Device | None = None
    findings: list[Finding] = field(default_factory=list)
    timeline: TimelinePage | None = None

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.findings]


def _find_message(app: App, message_ref: str) -> Message | None:
    message = Message.objects.filter(app=app, customer_msg_id=message_ref).first()
    if message is None and message_ref.isdigit():
        message = Message.objects.filter(app=app, pk=int(message_ref)).first()
    return message


def _channel_configured(app: App, channel: str) -> tuple[bool, str]:
    if channel == Channel.APNS:
        cert = ApnsCertificate.objects.filter(app=app, is_active=True).first()
        key = ApnsTokenKey.objects.filter(app=app, is_active=True).first()
        if cert is None and key is None:
            return False, _("No active APNs certificate or token key.")
        if cert is not None and key is None and cert.not_after <= timezone.now():
            return False, _("The active APNs certificate expired on %(date)s.") % {"date": _when(cert.not_after)}
        return True, ""
    if channel == Channel.FCM:
        fcm = FcmCredential.objects.filter(app=app).first()
        if fcm is None or not fcm.enabled:
            return False, _("FCM is switched off or has no credentials.")
        return True, ""
    if channel in {c.value for c in Channel} - {Channel.SELF_BUILT, Channel.SANDBOX, Channel.APNS, Channel.FCM}:
        vc = VendorChannel.objects.filter(app=app, vendor=channel, enabled=True).first()
        if vc is None:
            return False, _("The %(vendor)s channel is switched off or has no keys.") % {"vendor": channel}
    return True, ""


def _apns_environment_evidence(app: App) -> str:
    cert = ApnsCertificate.objects.filter(app=app, is_active=True).first()
    key = ApnsTokenKey.objects.filter(app=app, is_active=True).first()
    if cert is not None:
        return _("Active APNs certificate: environment %(env)s, topic %(topic)s.") % {
            "env": cert.environment,
            "topic": cert.topic,
        }
    if key is not None:
        return _("Active APNs token key %(kid)s: environment %(env)s.") % {"kid": key.key_id, "env": key.environment}
    return _("No active APNs credential.")


def _diagnose_delivery(
    app: App, message: Message, delivery: Delivery, channel_check, sms: SmsMessage | None
) -> list[Finding]:
    device = delivery.device
    findings: list[Finding] = []
    device_state = _("Device %(id)s: platform %(platform)s, channel %(channel)s, last seen %(seen)s.") % {
        "id": device.device_id,
        "platform": device.platform,
        "channel": delivery.channel,
        "seen": _when(device.last_seen_at) if device.last_seen_at else _("never"),
    }
    code = delivery.gateway_code
    if delivery.gateway_message_id:
        # what the vendor's support asks for: kept on every finding about this delivery
        device_state += " " + _("Vendor message id (%(channel)s): %(id)s.") % {
            "channel": delivery.channel,
            "id": delivery.gateway_message_id,
        }
    if device.token_dead_at:
        findings.append(
            Finding(
                "token_dead",
                _("The device's push token is dead: the gateway said the app was uninstalled or the token expired."),
                [
                    _("Token marked dead at %(at)s: %(reason)s")
                    % {
                        "at": _when(device.token_dead_at),
                        "reason": device.token_dead_reason or "-",
                    },
                    device_state,
                ],
            )
        )
    if code in WRONG_ENVIRONMENT_CODES and (delivery.channel == Channel.APNS or device.platform == Platform.IOS):
        findings.append(
            Finding(
                "apns_environment",
                _(
                    "APNs refused the token for this environment: the app was probably built for development "
                    "(sandbox) while the console pushes with a production credential, or the other way round."
                ),
                [
                    _("Gateway code %(code)s %(text)s") % {"code": code, "text": GATEWAY_CODE_TEXT.get(code, "")},
                    _apns_environment_evidence(app),
                ],
            )
        )
    configured, why = channel_check(delivery.channel)
    if not configured:
        findings.append(
            Finding(
                "channel_not_configured",
                _("The %(channel)s channel is not configured for this app, so the message could not go out.")
                % {"channel": delivery.channel},
                [why],
            )
        )
    if delivery.state == MessageState.EXPIRED or (
        delivery.state in (MessageState.WAITING, MessageState.QUEUED) and message.is_expired()
    ):
        seen = device.last_seen_at
        if seen is None or seen >= message.expires_at:
            text = _("The message expired at %(exp)s before the device came online.") % {
                "exp": _when(message.expires_at)
            }
        else:
            text = _("The message expired at %(exp)s without reaching the device.") % {"exp": _when(message.expires_at)}
        findings.append(Finding("expired", text, [device_state]))
    if code is not None and not any(f.kind == "apns_environment" for f in findings):
        findings.append(
            Finding(
                "gateway_error",
                _("The %(channel)s gateway answered with code %(code)s (%(text)s).")
                % {"channel": delivery.channel, "code": code, "text": GATEWAY_CODE_TEXT.get(code, status_text(code))},
                [delivery.gateway_reason or str(code), device_state],
            )
        )
    if sms is not None:
        sent = sms.state == "sent"
        findings.append(
            Finding(
                "sms_sent" if sent else "sms_failed",
                (
                    _(
                        "A fallback SMS went out to %(phone)s at %(at)s: the push had not arrived (or been opened) in time."
                    )
                    if sent
                    else _("A fallback SMS to %(phone)s failed at %(at)s.")
                )
                % {"phone": sms.phone_number, "at": _when(sms.at)},
                [
                    _("SMS provider %(provider)s, reference %(id)s")
                    % {"provider": sms.provider, "id": sms.provider_message_id or sms.error or "-"},
                    device_state,
                ],
            )
        )
    if not any(f.kind not in ("sms_sent", "sms_failed") for f in findings):
        if delivery.state == MessageState.ACCEPTED:
            text = _("Delivered: the %(channel)s channel accepted the message.") % {"channel": delivery.channel}
            if delivery.arrived_at:
                text += " " + _("It arrived at %(at)s.") % {"at": _when(delivery.arrived_at)}
            findings.append(Finding("delivered", text, [device_state]))
        else:
            findings.append(
                Finding(
                    "in_progress",
                    _("Not delivered yet: state %(state)s, waiting until %(exp)s.")
                    % {"state": delivery.get_state_display(), "exp": _when(message.expires_at)},
                    [device_state],
                )
            )
    return findings


def troubleshoot(*, app: App, message_ref: str, device_id: str = "") -> Diagnosis:
    """Explain what happened to one message (optionally on one device) and why."""
    message = _find_message(app, message_ref.strip())
    if message is None:
        return Diagnosis(
            message=None,
            findings=[Finding("message_unknown", _("No message with this id exists in this app."), [message_ref])],
        )
    diagnosis = Diagnosis(message=message)
    if device_id:
        device, own = delivery_for_device(message=message, device_id=device_id)
        if device is None:
            diagnosis.findings.append(
                Finding(
                    "device_unknown",
                    _("This device id is unknown to the app: it never registered, or registered under another app."),
                    [device_id],
                )
            )
            return diagnosis
        diagnosis.device = device
        # That device's part of the timeline (and the message's own events), not every device's.
        diagnosis.timeline = device_timeline(message=message, delivery=own)
        if own is None:
            diagnosis.findings.append(
                Finding(
                    "not_targeted",
                    _("The message was never addressed to this device (it did not match the target)."),
                    [_("Target: %(type)s %(id)s") % {"type": message.target_type, "id": message.target_id}],
                )
            )
            return diagnosis
        delivery_list = [own]
    else:
        diagnosis.timeline = message_timeline(message=message)
        # In the order of the (message, device) index: the first 20 of a broadcast of millions at once.
        delivery_list = list(
            Delivery.objects.filter(message=message).select_related("device").order_by("device_id")[:20]
        )
    if message.status == PushStatus.NO_BIND_INFO:
        status_line = _("Status %(code)s %(text)s") % {"code": message.status, "text": status_text(message.status)}
        if message.target_type == TargetType.USER:
            text = _("No device is bound to the target user id, so nothing was sent.")
        else:
            # An account, alias, tag expression or everyone: say which kind of target matched nothing.
            text = _("No device matched the target (%(kind)s), so nothing was sent.") % {
                "kind": message.get_target_type_display()
            }
        diagnosis.findings.append(Finding("no_binding", text, [status_line]))
    if not delivery_list and not diagnosis.findings:
        diagnosis.findings.append(
            Finding(
                "device_unknown",
                _("No device matched the target: the device id is unknown or has no push token."),
                [_("Target: %(type)s %(id)s") % {"type": message.target_type, "id": message.target_id}],
            )
        )
    checked: dict[str, tuple[bool, str]] = {}

    def channel_check(channel: str) -> tuple[bool, str]:
        # Once per channel, not per delivery shown.
        if channel not in checked:
            checked[channel] = _channel_configured(app, channel)
        return checked[channel]

    # The fallback SMS of the deliveries shown, in one query.
    sms_by_delivery = {sms.delivery_id: sms for sms in SmsMessage.objects.filter(delivery__in=delivery_list)}
    for delivery in delivery_list:
        diagnosis.findings.extend(
            _diagnose_delivery(app, message, delivery, channel_check, sms_by_delivery.get(delivery.pk))
        )
    return diagnosis
