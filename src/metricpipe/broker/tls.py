"""Certificates and SCRAM credentials for ``kafka.security_protocol = "sasl_ssl"``.

With the local broker and no certificate files given, metricpipe makes its own
small CA and a broker certificate for 127.0.0.1/localhost in
``<workspace>/conf/tls`` (keys mode 0600, the folder 0700). Every client then
trusts that CA only. The SCRAM credential is written into the KRaft metadata when
the storage is formatted, as a salted hash; since that hash is enough to log in,
it is handed to the storage tool in a 0600 ``java @argfile``, not on the command
line where the process list would show it.
"""

import base64
import datetime
import hashlib
import ipaddress
import logging
import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from metricpipe.broker.config import KafkaConfig
from metricpipe.errors import ConfigError

log = logging.getLogger(__name__)

CA_FILE = "ca.pem"
CERT_FILE = "broker.pem"
KEY_FILE = "broker-key.pem"
#: Kafka requires at least 4096 for SCRAM; more costs each login a little CPU.
SCRAM_ITERATIONS = 8192
VALID_DAYS = 825
#: The credential syntax of kafka-storage has no quoting for ``,`` or ``=``.
USERNAME = re.compile(r"[A-Za-z0-9._-]+")


def write_private(path: Path, data: bytes | str) -> None:
    """Create ``path`` as 0600 before any byte is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)
    path.chmod(0o600)


def generate_local_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a broker certificate for 127.0.0.1 and localhost, made once."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca_path, cert_path, key_path = (
        folder / CA_FILE,
        folder / CERT_FILE,
        folder / KEY_FILE,
    )
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path

    now = datetime.datetime.now(datetime.UTC)
    until = now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "metricpipe local CA")]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    # The CA key is not kept: nothing else is ever signed with it.
    write_private(
        key_path,
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    write_private(cert_path, cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    write_private(ca_path, ca_cert.public_bytes(pem))
    log.info("Generated a local CA and broker certificate in %s", folder)
    return ca_path, cert_path, key_path


def resolve_security(kafka: KafkaConfig, tls_dir: Path) -> None:
    """Fill in generated certificate paths and check the password is there.

    Called by the supervisor before anything starts, so every service and the
    saved running config see the same files.
    """
    if not kafka.secured:
        return
    kafka.password()  # raises ConfigError naming the key when it is missing
    if not USERNAME.fullmatch(kafka.sasl_username):
        raise ConfigError(
            "kafka.sasl_username",
            kafka.sasl_username,
            "must be letters, digits, '.', '_' or '-'",
            "pick a plain user name",
        )
    if kafka.is_local and not kafka.tls_ca_file:
        if kafka.tls_cert_file or kafka.tls_key_file:
            raise ConfigError(
                "kafka.tls_ca_file",
                "",
                "must be set when kafka.tls_cert_file/tls_key_file are given",
                "give the CA that signed the certificate, or none of the three",
            )
        ca, cert, key = generate_local_tls(tls_dir)
        kafka.tls_ca_file, kafka.tls_cert_file = str(ca), str(cert)
        kafka.tls_key_file = str(key)
    if not kafka.tls_ca_file:
        raise ConfigError(
            "kafka.tls_ca_file",
            "",
            "sasl_ssl to an external cluster needs the CA that signed its certificate",
            "set kafka.tls_ca_file to a PEM file",
        )
    for name in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        value = getattr(kafka, name)
        if value and not Path(value).is_file():
            raise ConfigError(f"kafka.{name}", value, "is not a file", "fix the path")


def scram_credential(mechanism: str, username: str, password: str) -> str:
    """``--add-scram`` argument for kafka-storage format, as a salted hash."""
    digest = {"SCRAM-SHA-512": "sha512", "SCRAM-SHA-256": "sha256"}[mechanism]
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt, SCRAM_ITERATIONS)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return (
        f"{mechanism}=[name={username},iterations={SCRAM_ITERATIONS},"
        f'salt="{b64(salt)}",saltedpassword="{b64(salted)}"]'
    )
