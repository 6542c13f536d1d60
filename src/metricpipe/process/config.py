"""Configuration of the Spark Structured Streaming job."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

TimestampUnit = Literal["s", "ms", "us", "ns"]

# Telegraf's cumulative counters (net, diskio, kernel) that are turned into
# per-second rates. Patterns are SQL LIKE patterns on "measurement.field".
DEFAULT_COUNTER_PATTERNS = (
    "net.bytes_%",
    "net.packets_%",
    "net.err_%",
    "net.drop_%",
    "diskio.reads",
    "diskio.writes",
    "diskio.%_bytes",
    "diskio.%_time",
    "kernel.context_switches",
    "kernel.interrupts",
    "kernel.processes_forked",
)


class ProcessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    master: str = Field(
        "local[*]", description="Spark master URL: local[*], spark://..., k8s://..."
    )
    driver_memory_mb: int = Field(
        1024, ge=256, le=65536, description="Spark driver memory, in MiB."
    )
    consumer_group: str = Field(
        "metricpipe-spark",
        description="Group the job commits its progress to, for lag monitoring only.",
    )
    shuffle_partitions: int = Field(
        4,
        ge=1,
        le=2000,
        description=(
            "spark.sql.shuffle.partitions; fixed into the checkpoint at the first "
            "run, so changing it later needs a new checkpoint version."
        ),
    )
    ui_port: int = Field(
        4040,
        ge=1,
        le=65535,
        description="Spark UI port on 127.0.0.1; the readiness probe asks its REST.",
    )
    trigger_s: float = Field(
        2.0, gt=0, le=3600, description="Micro-batch trigger interval, in seconds."
    )
    window_s: list[int] = Field(
        default_factory=lambda: [10],
        description=(
            "Tumbling rollup window sizes, in seconds; all of them in one "
            "streaming query and one state store."
        ),
    )
    watermark_s: float | None = Field(
        None,
        ge=0,
        description=(
            "How late an event may arrive, in seconds. Unset: Telegraf's "
            "interval_s + flush_interval_s + watermark_slack_s."
        ),
    )
    watermark_slack_s: float = Field(
        5.0, ge=0, description="Slack added to the derived watermark, in seconds."
    )
    timestamp_unit: TimestampUnit = Field(
        "ms", description="Unit of the Telegraf JSON timestamp: s, ms, us or ns."
    )
    max_message_bytes: int = Field(
        65536, ge=64, description="Raw records larger than this go to the DLQ."
    )
    max_future_skew_s: float = Field(
        300.0,
        gt=0,
        description="Events this far ahead of the job's clock go to the DLQ, in s.",
    )
    max_past_skew_s: float = Field(
        7 * 86400.0,
        gt=0,
        description="Events this far behind the job's clock go to the DLQ, in s.",
    )
    counter_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COUNTER_PATTERNS),
        description=(
            "SQL LIKE patterns on 'measurement.field' of cumulative counters; their "
            "rollups carry a per-second rate."
        ),
    )
    fail_on_data_loss: bool = Field(
        False,
        description=(
            "Stop the job when Kafka deleted data it had not read yet. False keeps "
            "running, logs the gap and counts it in data_loss_messages (metrics "
            "are best effort, retention may win)."
        ),
    )
    max_offsets_per_trigger: int = Field(
        50_000, ge=1, description="Most raw records read in one micro-batch."
    )
    dedup_enabled: bool = Field(
        True,
        description=(
            "Drop exact duplicate points (same series, event time and value, e.g. "
            "one raw message delivered twice) within the watermark before the "
            "rollup, so a redelivery leaves the stores unchanged. Part of the "
            "checkpoint: changing it needs a new checkpoint version."
        ),
    )
    anomaly_enabled: bool = Field(
        True, description="Run the per-series EWMA anomaly detector."
    )
    anomaly_alpha: float = Field(
        0.1, gt=0, lt=1, description="EWMA smoothing factor of the anomaly baseline."
    )
    anomaly_threshold: float = Field(
        4.0, gt=0, description="|value - mean| / stddev above which an alert fires."
    )
    anomaly_measurements: list[str] = Field(
        default_factory=lambda: [
            "cpu",
            "mem",
            "swap",
            "disk",
            "system",
            "processes",
        ],
        description=(
            "Measurements (glob patterns) scored for anomalies. Counters are never "
            "scored: a growing total is not an anomaly. The stack's own statistics "
            "are left out by default: they jump at every start."
        ),
    )
    anomaly_min_points: int = Field(
        10, ge=2, description="Points a series needs before it can alert."
    )
    anomaly_idle_timeout_s: float = Field(
        3600.0, gt=0, description="Series state idle this long is dropped, in s."
    )
    checkpoint_version: int = Field(
        1,
        ge=1,
        description=(
            "Checkpoints live in data/spark/checkpoints/v<N>; raise N after an "
            "incompatible change to start fresh from the latest offsets."
        ),
    )
    starting_offsets: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a fresh checkpoint starts reading metrics.raw."
    )

    @field_validator("window_s")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not value or any(w <= 0 for w in value) or len(set(value)) != len(value):
            raise ValueError("a non-empty list of distinct positive seconds")
        return value
