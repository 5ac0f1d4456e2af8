"""A small X.509 certificate authority for tenant endpoints (SPEC §7).

Pure functions over PEM text, built on ``cryptography``: make a CA, issue a server
certificate for a set of host names and IP addresses, and describe a certificate (its SHA-256
fingerprint, its hosts, its expiry). Where the CA's key lives is the caller's business.

Keys are ECDSA P-256: every TLS client of the last decade accepts them and they are quick to
make. A fingerprint is ``sha256:`` and the lowercase hex SHA-256 of the certificate's DER
bytes, which is what ``openssl x509 -fingerprint -sha256`` shows without the colons.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=3650)
SERVER_VALIDITY = dt.timedelta(days=397)  # the longest browsers accept
RENEW_BEFORE = dt.timedelta(days=30)
_BACKDATE = dt.timedelta(minutes=5)  # tolerate a little clock skew between hosts


@dataclass(frozen=True, slots=True)
class KeyAndCertificate:
    key_pem: str
    cert_pem: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert_pem)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def new_authority(name: str, *, now: dt.datetime | None = None) -> KeyAndCertificate:
    """A self-signed CA that may sign server certificates only (path length 0)."""
    now = now or _now()
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Frostbyte"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyAndCertificate(_key_pem(key), _cert_pem(cert))


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_server(authority: KeyAndCertificate, hosts: Sequence[str], *, common_name: str,
                 now: dt.datetime | None = None) -> KeyAndCertificate:
    """A server certificate for ``hosts`` (IP addresses and DNS names, all in the subject
    alternative name), signed by ``authority``, with a key of its own."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    now = now or _now()
    ca_key = serialization.load_pem_private_key(authority.key_pem.encode("ascii"), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an ECDSA key")
    ca_cert = x509.load_pem_x509_certificate(authority.cert_pem.encode("ascii"))
    key = _new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE).not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return KeyAndCertificate(_key_pem(key), _cert_pem(cert))


def fingerprint(cert_pem: str) -> str:
    """``sha256:<hex>`` of the certificate's DER encoding."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    return "sha256:" + hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def hosts(cert_pem: str) -> list[str]:
    """The IP addresses and DNS names a certificate is valid for."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] + \
        list(names.get_values_for_type(x509.DNSName))


def signed_by(cert_pem: str, authority_cert_pem: str) -> bool:
    """True if ``cert_pem`` was issued by that CA (signature checked)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    ca = x509.load_pem_x509_certificate(authority_cert_pem.encode("ascii"))
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def needs_renewal(cert_pem: str, wanted_hosts: Sequence[str], authority_cert_pem: str, *,
                  now: dt.datetime | None = None) -> str | None:
    """Why a server certificate must be issued anew (None: it serves as it is)."""
    now = now or _now()
    cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    if not signed_by(cert_pem, authority_cert_pem):
        return "it was not issued by the current CA"
    if sorted(hosts(cert_pem)) != sorted(wanted_hosts):
        return f"it names {sorted(hosts(cert_pem))}, not {sorted(wanted_hosts)}"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"it expires on {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def client_context(ca_pem: str) -> ssl.SSLContext:
    """A TLS client context that trusts only this CA (host names checked)."""
    return ssl.create_default_context(cadata=ca_pem)
