"""Certificates the tests make themselves: a fake Apple WWDR CA and APNs leaf certificates."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

OID_DEV = x509.ObjectIdentifier("1.2.840.113635.100.6.3.1")
OID_PROD = x509.ObjectIdentifier("1.2.840.113635.100.6.3.2")
OID_TOPICS = x509.ObjectIdentifier("1.2.840.113635.100.6.3.6")
OID_UID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")


@lru_cache(maxsize=8)
def rsa_key(bits: int = 2048, n: int = 0) -> rsa.RSAPrivateKey:
    """Keys are slow to make: tests share a few (n picks which)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@lru_cache(maxsize=1)
def wwdr_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = rsa_key(2048, 99)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Apple Worldwide Developer Relations Certification Authority"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "G4"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc."),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _der_utf8(text: str) -> bytes:
    body = text.encode()
    return b"\x0c" + bytes([len(body)]) + body


def _der_seq(body: bytes) -> bytes:
    if len(body) < 128:
        return b"\x30" + bytes([len(body)]) + body
    n = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | len(n)]) + n + body


def topics_extension(bundle_id: str) -> bytes:
    # What Apple puts in .6: topic, [kind], topic, [kind]...
    return _der_seq(
        _der_utf8(bundle_id) + _der_seq(_der_utf8("app")) + _der_utf8(bundle_id + ".voip") + _der_seq(_der_utf8("voip"))
    )


def leaf(
    bundle_id: str = "com.example.shop",
    *,
    kind: str = "production",  # development / production / universal / plain
    not_after: datetime | None = None,
    not_before: datetime | None = None,
    key: rsa.RSAPrivateKey | None = None,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """An APNs-like leaf certificate signed by the fake WWDR CA (or `issuer`)."""
    now = datetime.now(UTC)
    key = key or rsa_key(2048, 1)
    ca_cert, ca_key = issuer or wwdr_ca()
    label = {
        "development": "Apple Development IOS Push Services",
        "production": "Apple Production IOS Push Services",
        "universal": "Apple Push Services",
        "plain": "Plain TLS client",
    }[kind]
    subject = x509.Name(
        [
            x509.NameAttribute(OID_UID, bundle_id),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{label}: {bundle_id}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ABCDE12345"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
    )
    if kind in ("development", "universal"):
        builder = builder.add_extension(x509.UnrecognizedExtension(OID_DEV, b"\x05\x00"), critical=False)
    if kind in ("production", "universal"):
        builder = builder.add_extension(x509.UnrecognizedExtension(OID_PROD, b"\x05\x00"), critical=False)
    if kind == "universal":
        builder = builder.add_extension(
            x509.UnrecognizedExtension(OID_TOPICS, topics_extension(bundle_id)), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def p12(cert: x509.Certificate, key, password: str = "s3cret-p12", *, with_key: bool = True) -> bytes:
    """A modern (AES) PKCS#12 export."""
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"apns", key if with_key else None, cert, [wwdr_ca()[0]], encryption)


def legacy_p12(cert: x509.Certificate, key, password: str = "s3cret-p12") -> bytes:
    """A legacy RC2/3DES export made by the openssl CLI, as older Keychain versions make them."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / "k.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        subprocess.run(
            [
                "openssl", "pkcs12", "-export", "-legacy",
                "-in", str(d / "c.pem"), "-inkey", str(d / "k.pem"),
                "-out", str(d / "out.p12"), "-passout", f"pass:{password}",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return (d / "out.p12").read_bytes()


def pem_bundle(cert: x509.Certificate, key) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def p8_key(curve: ec.EllipticCurve | None = None) -> str:
    key = ec.generate_private_key(curve or ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def rsa_private_pem(bits: int = 2048, n: int = 2) -> str:
    return (
        rsa_key(bits, n)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def rsa_public_pem(bits: int = 2048, n: int = 2) -> str:
    return (
        rsa_key(bits, n)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
