"""Parse and check uploaded credentials. Pure functions: no database, no network (but DNS)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from django.utils.translation import gettext_lazy as _

# Apple's push certificate extensions.
OID_APNS_DEVELOPMENT = x509.ObjectIdentifier("1.2.840.113635.100.6.3.1")
OID_APNS_PRODUCTION = x509.ObjectIdentifier("1.2.840.113635.100.6.3.2")
OID_APNS_TOPICS = x509.ObjectIdentifier("1.2.840.113635.100.6.3.6")
OID_UID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")

# Real .p12 exports are a few kilobytes; anything far bigger is not one.
MAX_P12_BYTES = 64 * 1024
MAX_P8_BYTES = 8 * 1024
MAX_SERVICE_ACCOUNT_BYTES = 32 * 1024


class CredentialError(ValueError):
    """A refused credential; `code` says why, the message says it to a person."""

    def __init__(self, code: str, message):
        super().__init__(str(message))
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ParsedCertificate:
    environment: str  # development / production / both
    topic: str
    topics: list[str]
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    fingerprint: str


def _looks_like_pfx(data: bytes) -> bool:
    """A DER PFX starts SEQUENCE { INTEGER 3, ... }: then a load failure means a wrong password."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    i = 1
    if data[i] & 0x80:
        i += 1 + (data[i] & 0x7F)
    else:
        i += 1
    return data[i : i + 3] == b"\x02\x01\x03"


# DER of the PKCS#12 PBE algorithm ids 1.2.840.113549.1.12.1.3 (3DES) and .6 (RC2-40), as old Keychains use.
_LEGACY_PBE_OIDS = (
    b"\x06\x0a\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01\x03",
    b"\x06\x0a\x2a\x86\x48\x86\xf7\x0d\x01\x0c\x01\x06",
)


def _uses_legacy_encryption(data: bytes) -> bool:
    return any(oid in data for oid in _LEGACY_PBE_OIDS)


def legacy_provider_loaded() -> bool:
    """Whether cryptography's OpenSSL has the legacy provider (RC2, needed for old .p12 exports)."""
    from cryptography.hazmat.bindings._rust import openssl as rust_openssl

    return bool(getattr(rust_openssl, "_legacy_provider_loaded", True))


def _der_utf8_strings(data: bytes) -> list[str]:
    """Every string (UTF8String, IA5String, PrintableString) inside a DER blob, in order."""
    found: list[str] = []

    def walk(buf: bytes) -> None:
        i = 0
        while i + 2 <= len(buf):
            tag = buf[i]
            length = buf[i + 1]
            i += 2
            if length & 0x80:
                n = length & 0x7F
                if n == 0 or i + n > len(buf):
                    return
                length = int.from_bytes(buf[i : i + n], "big")
                i += n
            body = buf[i : i + length]
            if len(body) != length:
                return
            if tag in (0x0C, 0x16, 0x13):
                found.append(body.decode("utf-8", "replace"))
            elif tag & 0x20:  # constructed: SEQUENCE, SET, ...
                walk(body)
            i += length

    walk(data)
    return found


def _cert_fingerprint(cert: x509.Certificate) -> str:
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()[:32]


def _public_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_p12(data: bytes, password: str, *, now: datetime | None = None) -> ParsedCertificate:
    """Read an APNs .p12 (modern or legacy RC2/3DES encrypted); refuse with a CredentialError."""
    now = now or datetime.now(UTC)
    if not data:
        raise CredentialError("empty", _("The file is empty."))
    if len(data) > MAX_P12_BYTES:
        raise CredentialError(
            "too_large",
            _("The file is larger than %(kb)d KB: it is not an APNs .p12 export.") % {"kb": MAX_P12_BYTES // 1024},
        )
    if data.lstrip().startswith(b"-----BEGIN"):
        raise CredentialError(
            "pem",
            _("This is a PEM text file, not a PKCS#12 (.p12) file. Export the certificate with its key as .p12."),
        )
    try:
        key, cert, _extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8") if password else None)
    except ValueError as exc:
        if _looks_like_pfx(data):
            if _uses_legacy_encryption(data) and not legacy_provider_loaded():
                raise CredentialError(
                    "legacy_unavailable",
                    _(
                        "This .p12 uses legacy RC2/3DES encryption, which this server cannot read because the "
                        "OpenSSL legacy provider is not loaded (or the password is wrong). Re-export it with "
                        "modern encryption, or ask your administrator to enable the legacy provider."
                    ),
                ) from exc
            raise CredentialError("password", _("The password is wrong for this .p12 file.")) from exc
        raise CredentialError("not_pkcs12", _("This file is not a PKCS#12 (.p12) file.")) from exc
    if key is None:
        raise CredentialError(
            "no_key",
            _("The .p12 file holds no private key. Export the certificate together with its private key."),
        )
    if cert is None:
        raise CredentialError("no_certificate", _("The .p12 file holds no certificate."))
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        raise CredentialError("key_mismatch", _("The private key in the .p12 file does not belong to its certificate."))

    oids = {ext.oid for ext in cert.extensions}
    dev, prod, has_topics = OID_APNS_DEVELOPMENT in oids, OID_APNS_PRODUCTION in oids, OID_APNS_TOPICS in oids
    if not (dev or prod):
        raise CredentialError("not_apple_push", _("This is not an Apple Push Notification service certificate."))
    if has_topics or (dev and prod):
        environment = "both"
    else:
        environment = "development" if dev else "production"

    uids = cert.subject.get_attributes_for_oid(OID_UID)
    topic = str(uids[0].value) if uids else ""
    topics: list[str] = []
    if has_topics:
        raw = cert.extensions.get_extension_for_oid(OID_APNS_TOPICS).value.value
        # The extension lists topic, [kinds], topic, [kinds]...: keep the topics only.
        topics = [s for s in _der_utf8_strings(raw) if "." in s]
    if not topic and topics:
        topic = topics[0]
    if not topic:
        raise CredentialError("no_topic", _("The certificate names no bundle id (subject UID)."))
    if topic not in topics:
        topics.insert(0, topic)

    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if not_after <= now:
        raise CredentialError(
            "expired",
            _("This certificate expired on %(date)s. Create a new one in the Apple developer account.")
            % {"date": not_after.strftime("%Y-%m-%d %H:%M UTC")},
        )
    if not_before > now:
        raise CredentialError(
            "not_yet_valid",
            _("This certificate is not valid before %(date)s.") % {"date": not_before.strftime("%Y-%m-%d %H:%M UTC")},
        )
    return ParsedCertificate(
        environment=environment,
        topic=topic,
        topics=topics,
        subject=cert.subject.rfc4514_string()[:500],
        issuer=cert.issuer.rfc4514_string()[:500],
        serial=format(cert.serial_number, "X")[:80],
        not_before=not_before,
        not_after=not_after,
        fingerprint=_cert_fingerprint(cert),
    )


def issuer_common_name(cert: x509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def parse_p8(text: str) -> str:
    """The PEM of an APNs token key; it must be an unencrypted EC P-256 private key."""
    text = text.strip()
    if not text:
        raise CredentialError("empty", _("The key is empty."))
    if len(text) > MAX_P8_BYTES:
        raise CredentialError("too_large", _("This is too large to be an APNs .p8 key."))
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError as exc:
        raise CredentialError(
            "encrypted", _("The key is password-protected; upload the .p8 file as Apple issued it.")
        ) from exc
    except ValueError as exc:
        raise CredentialError("not_key", _("This is not a PEM private key (.p8 file).")) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CredentialError("wrong_curve", _("An APNs token key must be an EC P-256 private key."))
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class ParsedServiceAccount:
    text: str
    project_id: str
    client_email: str
    private_key_id: str
    extra: dict = field(default_factory=dict)


def parse_service_account(raw: bytes | str) -> ParsedServiceAccount:
    """Check an FCM HTTP v1 service-account JSON: type, project, e-mail, a private key that parses."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_SERVICE_ACCOUNT_BYTES:
            raise CredentialError("too_large", _("The file is too large to be a service-account JSON."))
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CredentialError("not_json", _("The file is not UTF-8 JSON.")) from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CredentialError("not_json", _("The file is not valid JSON.")) from exc
    if not isinstance(data, dict):
        raise CredentialError("not_json", _("The JSON must be an object."))
    if data.get("type") != "service_account":
        raise CredentialError("type", _('The JSON is not a service account ("type" must be "service_account").'))
    for name in ("project_id", "client_email", "private_key"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise CredentialError("missing", _('The service account has no "%(name)s".') % {"name": name})
    if "@" not in data["client_email"]:
        raise CredentialError("email", _('"client_email" is not an e-mail address.'))
    try:
        key = serialization.load_pem_private_key(data["private_key"].encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialError("key", _('The "private_key" of the service account does not parse.')) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError("key", _('The "private_key" of the service account is not an RSA key.'))
    return ParsedServiceAccount(
        text=raw,
        project_id=data["project_id"].strip()[:200],
        client_email=data["client_email"].strip()[:320],
        private_key_id=str(data.get("private_key_id", ""))[:100],
    )


@dataclass(frozen=True)
class ParsedPublicKey:
    pem: str
    bits: int
    fingerprint: str


def parse_rsa_public_key(text: str, *, min_bits: int = 2048) -> ParsedPublicKey:
    """A customer's RSA public key (PEM, SubjectPublicKeyInfo or PKCS#1) of at least `min_bits`."""
    text = text.strip()
    if "PRIVATE KEY" in text:
        raise CredentialError(
            "private", _("This is a private key. Paste the public key only and keep the private key secret.")
        )
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError) as exc:
        raise CredentialError("not_pem", _("This is not a PEM public key (-----BEGIN PUBLIC KEY-----).")) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise CredentialError("not_rsa", _("The key must be an RSA public key."))
    if key.key_size < min_bits:
        raise CredentialError(
            "too_short",
            _("The key has %(bits)d bits; at least %(min)d are needed.") % {"bits": key.key_size, "min": min_bits},
        )
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    der = _public_bytes(key)
    return ParsedPublicKey(pem=pem, bits=key.key_size, fingerprint=public_key_fingerprint(der))


def public_key_fingerprint(der: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    hexed = digest.finalize().hex()
    return "SHA256:" + ":".join(hexed[i : i + 2] for i in range(0, 32, 2))


def pem_public_key_fingerprint(pem: str) -> str:
    key = serialization.load_pem_public_key(pem.encode())
    return public_key_fingerprint(_public_bytes(key))


def check_callback_url(url: str) -> str:
    """The outbound guard's rules (console.security.outbound): http(s), resolved now to public
    addresses only (or the operator's OUTBOUND_ALLOWED_NETWORKS). Checked again at every send."""
    from console.security import outbound

    try:
        return outbound.resolve(url).url
    except outbound.RefusedDestination as exc:
        raise CredentialError(exc.reason, exc.message) from None
