"""Self-signed TLS certificates for the gateway's own HTTPS pages (phone page, web app), made
with ``cryptography`` (no ``openssl`` program needed on the gateway)."""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

SUBJECT = "sitegate phone clock-in"


def _san(hosts: list[str]) -> list:
    """Pure: localhost and 127.0.0.1, then each extra host as an IP address or a DNS name."""
    from cryptography import x509
    names: list = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for h in hosts:
        try:
            entry = x509.IPAddress(ipaddress.ip_address(h))
        except ValueError:
            entry = x509.DNSName(h)
        if entry not in names:
            names.append(entry)
    return names


def make_cert(cert: Path, key: Path, hosts: list[str] | None = None, days: int = 825) -> None:
    """Self-signed ECDSA P-256 certificate (SHA-256) for the phone page and the web app (made
    once at provisioning), valid ``days`` (825: the most browsers accept), with
    subjectAltName localhost, 127.0.0.1 and ``hosts``.  The key is written 0600."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SUBJECT)])
    now = dt.datetime.now(dt.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(private.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))          # a slightly slow phone clock
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_san(hosts or [])), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    pem_key = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(pem_key)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
