"""Configuration of the Kafka broker and of the pipeline's topics."""

from pydantic import BaseModel, ConfigDict, Field


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
