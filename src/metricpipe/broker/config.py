"""Configuration of the Kafka broker and of the pipeline's topics."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from metricpipe.errors import ConfigError


class TopicConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Topic name.")
    partitions: int = Field(3, ge=1, le=10_000, description="Number of partitions.")
    retention_ms: int = Field(
        86_400_000, ge=60_000, description="How long records are kept (retention.ms)."
    )
    max_message_bytes: int = Field(
        1_048_588,
        ge=1024,
        le=100 * 1024 * 1024,
        description="Largest record batch the topic accepts (max.message.bytes).",
    )


def _topic(name: str, partitions: int = 3, retention_h: int = 24) -> TopicConfig:
    return TopicConfig(
        name=name, partitions=partitions, retention_ms=retention_h * 3_600_000
    )


class TopicsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    raw: TopicConfig = Field(
        default_factory=lambda: _topic("metrics.raw"),
        description="Raw Telegraf metrics, one JSON metric per record.",
    )
    rollup: TopicConfig = Field(
        default_factory=lambda: _topic("metrics.rollup"),
        description="Windowed rollups from the Spark job.",
    )
    alerts: TopicConfig = Field(
        default_factory=lambda: _topic("metrics.alerts", partitions=1),
        description="Anomaly alerts from the Spark job.",
    )
    dlq: TopicConfig = Field(
        default_factory=lambda: _topic("metrics.dlq", partitions=1, retention_h=168),
        description="Rejected raw input, each record with its reason.",
    )
    sink_dlq: TopicConfig = Field(
        default_factory=lambda: _topic(
            "metrics.sink.dlq", partitions=1, retention_h=168
        ),
        description="Records a store rejected, with the store's error.",
    )
    pipeline: TopicConfig = Field(
        default_factory=lambda: _topic("metrics.pipeline", partitions=1),
        description="The pipeline's own metrics, e.g. one record per Spark batch.",
    )

    def all(self) -> list[TopicConfig]:
        return [
            self.raw,
            self.rollup,
            self.alerts,
            self.dlq,
            self.sink_dlq,
            self.pipeline,
        ]


class KafkaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str = Field(
        "",
        description=(
            "An existing cluster to use instead of the local broker, as host:port "
            "pairs separated by commas. Empty runs the local broker."
        ),
    )
    host: str = Field("127.0.0.1", description="Address the local broker listens on.")
    port: int = Field(9092, ge=1, le=65535, description="Local broker client port.")
    controller_port: int = Field(
        9093, ge=1, le=65535, description="Local KRaft controller port."
    )
    heap_mb: int = Field(
        1024, ge=256, le=16384, description="JVM heap of the local broker, in MiB."
    )
    security_protocol: Literal["plaintext", "sasl_ssl"] = Field(
        "plaintext",
        description=(
            "How every component talks to Kafka: plaintext (loopback only), or "
            "sasl_ssl (SCRAM over TLS). With sasl_ssl and the local broker, the "
            "broker, Telegraf, Spark, Connect and the CLI all follow this one key."
        ),
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism with sasl_ssl."
    )
    sasl_username: str = Field(
        "metricpipe", description="SASL user every component logs in as."
    )
    sasl_password: SecretStr | None = Field(
        None,
        description=(
            "SASL password; better from METRICPIPE_KAFKA__SASL_PASSWORD or "
            "kafka.sasl_password_file than in the file. Never printed."
        ),
    )
    sasl_password_file: str = Field(
        "",
        description="File holding the SASL password (first line), if not given above.",
    )
    tls_ca_file: str = Field(
        "",
        description=(
            "PEM CA that signed the broker's certificate. Empty with the local "
            "broker: metricpipe generates a CA in <workspace>/conf/tls."
        ),
    )
    tls_cert_file: str = Field(
        "",
        description=(
            "Local broker's PEM certificate chain (127.0.0.1/localhost). Empty: "
            "generated together with the CA."
        ),
    )
    tls_key_file: str = Field(
        "", description="Local broker's unencrypted PKCS#8 PEM key. Empty: generated."
    )
    # Last: sub-tables must follow every plain key in the generated sample.
    topics: TopicsConfig = Field(
        default_factory=TopicsConfig, description="The pipeline's topics."
    )

    @property
    def bootstrap(self) -> str:
        """The address clients use: the external cluster, or the local broker."""
        return self.bootstrap_servers or f"{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        return not self.bootstrap_servers

    @property
    def secured(self) -> bool:
        return self.security_protocol == "sasl_ssl"

    def password(self) -> str:
        """The SASL password, from the key or from kafka.sasl_password_file."""
        # An empty value (e.g. an exported but empty variable) is no password.
        if self.sasl_password is not None and self.sasl_password.get_secret_value():
            return self._checked(
                self.sasl_password.get_secret_value(), "kafka.sasl_password"
            )
        if self.sasl_password_file:
            try:
                lines = Path(self.sasl_password_file).read_text().splitlines()
            except OSError as exc:
                raise ConfigError(
                    "kafka.sasl_password_file",
                    self.sasl_password_file,
                    f"cannot be read ({exc.strerror})",
                    "point it at a readable file holding the password",
                ) from None
            if lines and lines[0]:
                return self._checked(lines[0], "kafka.sasl_password_file")
        raise ConfigError(
            "kafka.sasl_password",
            "<unset>",
            "kafka.security_protocol = sasl_ssl needs a password",
            "set METRICPIPE_KAFKA__SASL_PASSWORD or kafka.sasl_password_file",
        )

    @staticmethod
    def _checked(password: str, key: str) -> str:
        # A control character would end a line of the generated .properties.
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
            raise ConfigError(
                key,
                "<hidden>",
                "the password contains a control character (e.g. a newline)",
                "use printable characters only",
            )
        return password

    def librdkafka(self) -> dict[str, str]:
        """Settings for confluent-kafka clients (librdkafka names)."""
        settings = {"bootstrap.servers": self.bootstrap}
        if self.secured:
            settings |= {
                "security.protocol": "SASL_SSL",
                "sasl.mechanisms": self.sasl_mechanism,
                "sasl.username": self.sasl_username,
                "sasl.password": self.password(),
                "ssl.ca.location": self.tls_ca_file,
            }
        return settings

    def java_client(self) -> dict[str, str]:
        """Settings for Java clients (Spark with a ``kafka.`` prefix, Connect)."""
        settings = {"bootstrap.servers": self.bootstrap}
        if self.secured:
            settings |= {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": self.sasl_mechanism,
                "sasl.jaas.config": scram_jaas(self.sasl_username, self.password()),
                # Kafka 4 clients read a PEM CA directly: no JKS to generate.
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": self.tls_ca_file,
            }
        return settings


def properties_value(value: str) -> str:
    """A value as Java .properties reads it back: backslash is its escape."""
    return value.replace("\\", "\\\\")


def scram_jaas(username: str, password: str) -> str:
    """A JAAS line for SCRAM; quotes and backslashes escaped for JAAS."""

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f"username={quoted(username)} password={quoted(password)};"
    )
