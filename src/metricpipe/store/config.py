"""Configuration of the stores and of the Kafka Connect sinks."""

from pydantic import BaseModel, ConfigDict, Field


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    influxdb_port: int = Field(
        8086, ge=1, le=65535, description="Local InfluxDB HTTP port."
    )
    opensearch_port: int = Field(
        9200, ge=1, le=65535, description="Local OpenSearch HTTP port."
    )
    connect_port: int = Field(
        8083, ge=1, le=65535, description="Kafka Connect REST port."
    )
