"""Throwaway certificates for the fake gateways: a CA, a server certificate for 127.0.0.1,
an Apple-like push client certificate (.p12) and an APNs .p8 key."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

# Apple's extension OIDs marking development / production push certificates.
APPLE_DEV_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.3.1")
APPLE_PROD_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.3.2")


def _name(common_name: str, uid: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if uid:
        attrs.insert(0, x509.NameAttribute(NameOID.USER_ID, uid))
    return x509.Name(attrs)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class ClientCert:
    cert: x509.Certificate
    key: object
    p12: bytes
    password: str
    topic: str
    environment: str


@dataclass
class Pki:
    ca_cert: x509.Certificate
    ca_key: object
    server_cert_pem: bytes
    server_key_pem: bytes
    directory: str
    ca_file: str
    server_cert_file: str
    server_key_file: str
    clients: list[ClientCert] = field(default_factory=list)

    def client_cert(
        self,
        topic: str = "com.example.app",
        *,
        environment: str = "production",
        password: str = "secret-pass",
        days: int = 365,
        signed_by_ca: bool = True,
    ) -> ClientCert:
        """An Apple-like push certificate for `topic`, issued by this CA (or self-signed)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        subject = _name(f"Apple Push Services: {topic}", uid=topic)
        issuer_key = self.ca_key if signed_by_ca else key
        issuer = self.ca_cert.subject if signed_by_ca else subject
        oid = APPLE_DEV_OID if environment == "development" else APPLE_PROD_OID
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.UnrecognizedExtension(oid, b"\x05\x00"), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )
        p12 = pkcs12.serialize_key_and_certificates(
            b"push", key, cert, None, serialization.BestAvailableEncryption(password.encode())
        )
        client = ClientCert(cert, key, p12, password, topic, environment)
        self.clients.append(client)
        return client


def make_pki(directory: str | None = None) -> Pki:
    """A CA and a server certificate for 127.0.0.1 / localhost, written to `directory`."""
    directory = directory or tempfile.mkdtemp(prefix="pushdeck-pki-")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Pushdeck Test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = {}
    for name, data in (
        ("ca.pem", _pem(ca_cert)),
        ("server.pem", _pem(server_cert)),
        ("server.key", _key_pem(server_key)),
    ):
        path = os.path.join(directory, name)
        with open(path, "wb") as handle:
            handle.write(data)
        files[name] = path
    return Pki(
        ca_cert=ca_cert,
        ca_key=ca_key,
        server_cert_pem=_pem(server_cert),
        server_key_pem=_key_pem(server_key),
        directory=directory,
        ca_file=files["ca.pem"],
        server_cert_file=files["server.pem"],
        server_key_file=files["server.key"],
    )


def make_p8_key() -> tuple[str, str]:
    """An APNs-like .p8 signing key: (private key PEM, public key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _key_pem(key).decode(), public.decode()


def make_rsa_key() -> tuple[str, str]:
    """An RSA key pair (FCM service accounts): (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _key_pem(key).decode(), public.decode()
