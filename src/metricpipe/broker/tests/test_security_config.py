"""kafka.security_protocol without a broker: where the password comes from, what
every client is given, the generated certificates and where secrets never go."""

import base64
import hashlib
import ipaddress
import json
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509

from metricpipe.broker.tls import generate_local_tls, resolve_security, scram_credential
from metricpipe.config import (
    dump_with_secrets,
    load_config,
    save_running_config,
    validate_config,
)
from metricpipe.errors import ConfigError

pytestmark = pytest.mark.fast

SECRET = "pa55-word-for-unit-tests"


def test_the_password_comes_from_the_environment_and_is_never_dumped() -> None:
    config = load_config(
        None,
        environ={
            "METRICPIPE_KAFKA__SECURITY_PROTOCOL": "sasl_ssl",
            "METRICPIPE_KAFKA__SASL_PASSWORD": SECRET,
        },
    )
    assert config.kafka.password() == SECRET
    assert SECRET not in config.model_dump_json()
    assert SECRET not in repr(config)
    assert dump_with_secrets(config)["kafka"]["sasl_password"] == SECRET


def test_the_password_comes_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(SECRET + "\n")
    config = validate_config(
        {"kafka": {"security_protocol": "sasl_ssl", "sasl_password_file": str(secret)}}
    )
    assert config.kafka.password() == SECRET


def test_sasl_ssl_without_a_password_names_the_keys(tmp_path: Path) -> None:
    config = validate_config({"kafka": {"security_protocol": "sasl_ssl"}})
    with pytest.raises(ConfigError) as raised:
        resolve_security(config.kafka, tmp_path / "tls")
    assert "kafka.sasl_password" in str(raised.value)
    assert "METRICPIPE_KAFKA__SASL_PASSWORD" in str(raised.value)


def test_every_client_kind_gets_the_same_security(tmp_path: Path) -> None:
    config = validate_config(
        {"kafka": {"security_protocol": "sasl_ssl", "sasl_password": SECRET}}
    )
    resolve_security(config.kafka, tmp_path / "tls")
    ca = str(tmp_path / "tls" / "ca.pem")
    assert config.kafka.librdkafka() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "metricpipe",
        "sasl.password": SECRET,
        "ssl.ca.location": ca,
    }
    java = config.kafka.java_client()
    assert java["security.protocol"] == "SASL_SSL"
    assert java["ssl.truststore.location"] == ca
    assert f'password="{SECRET}"' in java["sasl.jaas.config"]
    plain = validate_config({}).kafka
    assert plain.librdkafka() == {"bootstrap.servers": "127.0.0.1:9092"}
    assert plain.java_client() == {"bootstrap.servers": "127.0.0.1:9092"}


def test_the_generated_certificate_is_for_loopback_and_keys_are_private(
    tmp_path: Path,
) -> None:
    ca_path, cert_path, key_path = generate_local_tls(tmp_path / "tls")
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert "BEGIN PRIVATE KEY" in key_path.read_text()  # PKCS#8, as Kafka wants

    leaf, issuer = x509.load_pem_x509_certificates(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    assert issuer == ca
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.IPv4Address("127.0.0.1")
    ]
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]
    # Made once: a restart keeps the CA every client already trusts.
    assert generate_local_tls(tmp_path / "tls")[0].read_bytes() == ca_path.read_bytes()


def test_the_scram_credential_is_a_salted_hash_not_the_password() -> None:
    credential = scram_credential("SCRAM-SHA-512", "metricpipe", SECRET)
    assert SECRET not in credential
    found = re.fullmatch(
        r'SCRAM-SHA-512=\[name=metricpipe,iterations=(\d+),salt="([^"]+)",'
        r'saltedpassword="([^"]+)"\]',
        credential,
    )
    assert found is not None
    iterations, salt, salted = found.groups()
    expected = hashlib.pbkdf2_hmac(
        "sha512", SECRET.encode(), base64.b64decode(salt), int(iterations)
    )
    assert base64.b64decode(salted) == expected


def test_the_running_config_keeps_secrets_apart(tmp_path: Path) -> None:
    config = validate_config(
        {"kafka": {"security_protocol": "sasl_ssl", "sasl_password": SECRET}}
    )
    save_running_config(config, tmp_path)
    shown = (tmp_path / "config.json").read_text()
    assert SECRET not in shown
    assert json.loads(shown)["kafka"]["sasl_password"] is None
    secrets = tmp_path / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text()) == {"kafka": {"sasl_password": SECRET}}


def test_telegraf_gets_the_same_security_in_both_kafka_plugins(tmp_path: Path) -> None:
    import tomllib

    from metricpipe.collect.telegraf_conf import telegraf_toml

    tricky = SECRET + '\\"x'
    config = validate_config(
        {
            "kafka": {"security_protocol": "sasl_ssl", "sasl_password": tricky},
            "supervisor": {"services": ["kafka", "influxdb", "telegraf"]},
        }
    )
    resolve_security(config.kafka, tmp_path / "tls")
    parsed = tomllib.loads(telegraf_toml(config))
    plugins = [*parsed["outputs"]["kafka"], *parsed["inputs"]["kafka_consumer"]]
    assert len(plugins) == 2
    for plugin in plugins:
        assert plugin["sasl_password"] == tricky  # TOML-escaped, read back intact
        assert plugin["sasl_mechanism"] == "SCRAM-SHA-512"
        assert plugin["tls_ca"] == str(tmp_path / "tls" / "ca.pem")
