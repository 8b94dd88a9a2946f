"""What templates see of a credential: public fields and masks, never a decrypted secret.

Views hand these view objects to templates instead of model instances: a template (or a
debug page, or a context processor) cannot reach a certificate, a .p8 key, a service account
or vendor secrets through them, whatever role is looking.
"""

from __future__ import annotations

from types import MappingProxyType

from .. import crypto
from ..models import ApnsCertificate, ApnsTokenKey, FcmCredential, VendorChannel

CERTIFICATE_FIELDS = ("pk", "topic", "topics", "environment", "subject", "issuer", "serial", "not_before")
CERTIFICATE_FIELDS += ("not_after", "fingerprint", "is_active", "uploaded_at", "last_error")
HISTORY_FIELDS = ("pk", "topic", "environment", "serial", "not_after", "uploaded_at", "is_active", "fingerprint")
TOKEN_FIELDS = ("pk", "key_id", "team_id", "topic", "environment", "fingerprint", "is_active", "uploaded_at")
FCM_FIELDS = ("pk", "enabled", "project_id", "client_email", "private_key_id", "fingerprint", "updated_at")
CHANNEL_FIELDS = ("pk", "vendor", "enabled", "vendor_app_id", "vendor_app_key", "fingerprint", "updated_at")


class CredentialView:
    """Read-only: the listed public fields, `get_environment_display`, and masks of the secrets."""

    __slots__ = ("_values",)

    def __init__(self, values: dict):
        object.__setattr__(self, "_values", MappingProxyType(values))

    def __getattr__(self, name: str):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        raise AttributeError("a credential view is read-only")

    def __bool__(self) -> bool:
        return True


def _view(instance, fields: tuple[str, ...], **extra) -> CredentialView | None:
    if instance is None:
        return None
    values = {name: getattr(instance, name) for name in fields}
    if hasattr(instance, "get_environment_display"):
        values["get_environment_display"] = instance.get_environment_display()
    values.update(extra)
    return CredentialView(values)


def certificate_view(cert: ApnsCertificate | None) -> CredentialView | None:
    return _view(cert, CERTIFICATE_FIELDS)


def certificate_history(certificates) -> list[CredentialView]:
    return [_view(cert, HISTORY_FIELDS) for cert in certificates.only(*HISTORY_FIELDS[1:])]


def token_view(token: ApnsTokenKey | None) -> CredentialView | None:
    return _view(token, TOKEN_FIELDS)


def fcm_view(fcm: FcmCredential | None) -> CredentialView | None:
    # `service_account` is only its mask: enough to say whether one is stored.
    return _view(fcm, FCM_FIELDS, service_account=crypto.mask(fcm.service_account) if fcm else "")


def channel_view(channel: VendorChannel | None) -> CredentialView | None:
    return _view(channel, CHANNEL_FIELDS)
