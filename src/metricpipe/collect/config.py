"""Configuration of Telegraf, the collection stage."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

# Host inputs metricpipe's Telegraf build carries (see TELEGRAF_PLUGINS); an input
# outside this set would make the custom-built binary refuse its config.
HOST_INPUTS = (
    "cpu",
    "mem",
    "swap",
    "disk",
    "diskio",
    "net",
    "system",
    "processes",
    "kernel",
)

# Sarama's codec numbers, as Telegraf's `compression_codec` expects them.
COMPRESSION_CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]


class CollectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(
        2.0, gt=0, le=3600, description="How often Telegraf gathers each input."
    )
    flush_interval_s: float = Field(
        1.0, gt=0, le=3600, description="How often Telegraf writes its buffer out."
    )
    inputs: list[str] = Field(
        default_factory=lambda: list(HOST_INPUTS),
        description=(
            "Host inputs Telegraf gathers. Allowed: " + ", ".join(HOST_INPUTS) + "."
        ),
    )
    metric_batch_size: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Most metrics Telegraf sends to Kafka in one write.",
    )
    metric_buffer_limit: int = Field(
        10_000,
        ge=2,
        le=10_000_000,
        description=(
            "Metrics Telegraf holds while Kafka is unreachable; when full, the "
            "oldest are overwritten (internal_write.metrics_dropped counts them). "
            "At least twice metric_batch_size."
        ),
    )
    max_message_bytes: int = Field(
        1_000_000,
        ge=1024,
        le=100 * 1024 * 1024,
        description=(
            "Largest Kafka message Telegraf produces; must not exceed "
            "kafka.topics.raw.max_message_bytes."
        ),
    )
    max_retry: int = Field(
        3,
        ge=1,
        le=100,
        description="Producer retries of one write before it waits for the next flush.",
    )
    compression: Compression = Field(
        "zstd",
        description="Compression of the Kafka output: none, gzip, snappy, lz4, zstd.",
    )
    hostname: str = Field(
        "",
        description="The host tag (and Kafka key) of every metric. Empty: this host.",
    )
    net_interfaces: list[str] = Field(
        default_factory=list,
        description=(
            "Interfaces (glob patterns) the net input reports. Empty: every "
            "interface that is up, except loopback."
        ),
    )
    debug: bool = Field(False, description="Run Telegraf with debug logging.")

    @field_validator("inputs")
    @classmethod
    def _known_inputs(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in HOST_INPUTS]
        if unknown:
            raise ValueError(
                f"unknown input(s) {unknown}; allowed: {', '.join(HOST_INPUTS)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("an input is listed twice; list each input once")
        return value

    @field_validator("hostname")
    @classmethod
    def _plain_hostname(cls, value: str) -> str:
        # The hostname becomes the Kafka key and a tag value; whitespace or quotes
        # there only ever come from a typo.
        if value and (value.strip() != value or any(c in value for c in "\"'\n ")):
            raise ValueError("no spaces or quotes allowed in a hostname")
        return value

    @field_validator("metric_buffer_limit")
    @classmethod
    def _buffer_holds_two_batches(cls, value: int, info: ValidationInfo) -> int:
        # Telegraf writes one batch while the next fills; a smaller buffer drops
        # metrics even when Kafka is healthy.
        batch = info.data.get("metric_batch_size")
        if batch is not None and value < 2 * batch:
            raise ValueError(
                f"must be at least twice metric_batch_size ({batch}); "
                f"raise it to {2 * batch} or more"
            )
        return value
