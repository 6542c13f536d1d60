"""Configuration of the stores and of the Kafka Connect sinks."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- InfluxDB -----------------------------------------------------------------
    influxdb_port: int = Field(
        8086, ge=1, le=65535, description="Local InfluxDB HTTP port."
    )
    influxdb_rpc_port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Local InfluxDB backup/restore RPC port, bound to 127.0.0.1; 0 picks a "
            "free port at each start."
        ),
    )
    influxdb_database: str = Field(
        "metrics", min_length=1, description="InfluxDB database the rollups go to."
    )
    influxdb_pipeline_database: str = Field(
        "pipeline",
        min_length=1,
        description="InfluxDB database for the pipeline's own metrics.",
    )
    influxdb_retention_days: int = Field(
        30, ge=1, description="How long rollup points are kept in InfluxDB."
    )
    influxdb_pipeline_retention_days: int = Field(
        7, ge=1, description="How long the pipeline's own metrics are kept."
    )
    influxdb_measurement_prefix: str = Field(
        "rollup_",
        description="Prefix of InfluxDB measurements: rollup_<measurement>.",
    )

    # --- OpenSearch / Elasticsearch --------------------------------------------------
    opensearch_port: int = Field(
        9200, ge=1, le=65535, description="Local OpenSearch HTTP port."
    )
    opensearch_transport_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Local OpenSearch transport port; 0 picks a free port at start.",
    )
    opensearch_heap_mb: int = Field(
        768, ge=256, le=16384, description="JVM heap of local OpenSearch, in MiB."
    )
    search_flavor: Literal["opensearch", "elasticsearch"] = Field(
        "opensearch",
        description=(
            "Which search engine the sink talks to; both use the same _bulk and "
            "_index_template APIs."
        ),
    )
    search_url: str = Field(
        "",
        description=(
            "An existing OpenSearch or Elasticsearch 8/9 cluster to write to, as "
            "http(s)://host:port. Empty uses the local OpenSearch."
        ),
    )
    rollup_index_prefix: str = Field(
        "metrics-rollup",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Daily rollup indices are <prefix>-YYYY.MM.DD (by window start).",
    )
    alerts_index_prefix: str = Field(
        "metrics-alerts",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Daily alert indices are <prefix>-YYYY.MM.DD (by window start).",
    )
    search_retention_days: int = Field(
        14, ge=1, description="Daily indices older than this are deleted."
    )

    # --- Kafka Connect --------------------------------------------------------------
    connect_port: int = Field(
        8083, ge=1, le=65535, description="Kafka Connect REST port."
    )
    connect_heap_mb: int = Field(
        512, ge=256, le=16384, description="JVM heap of the Connect worker, in MiB."
    )
    connect_group_id: str = Field(
        "metricpipe-connect",
        min_length=1,
        description="Connect cluster group id; also prefixes its internal topics.",
    )
    sink_tasks: int = Field(
        1, ge=1, le=64, description="Tasks per sink connector (max parallelism)."
    )
    sink_request_timeout_s: float = Field(
        10.0, gt=0, description="Timeout of one request from a sink to a store."
    )
    sink_retry_backoff_ms: int = Field(
        1000,
        ge=10,
        description="Wait before Connect redelivers a batch a store did not take.",
    )
    sink_offset_flush_interval_ms: int = Field(
        5000, ge=100, description="How often Connect commits sink offsets."
    )
    connectors_ready_timeout_s: float = Field(
        90.0, gt=0, description="How long after_ready waits for RUNNING tasks."
    )
