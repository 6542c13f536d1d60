"""Configuration of the built-in dashboard."""

from pydantic import BaseModel, ConfigDict, Field


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(8050, ge=1, le=65535, description="Dashboard HTTP port.")
    influxdb_url: str = Field(
        "",
        pattern=r"^(https?://[^\s/]+)?$",
        description=(
            "InfluxDB the dashboard reads, e.g. http://127.0.0.1:8086; empty means "
            "the local one on store.influxdb_port."
        ),
    )
    search_url: str = Field(
        "",
        pattern=r"^(https?://[^\s/]+)?$",
        description=(
            "OpenSearch the Alerts view reads; empty means the local one on "
            "store.opensearch_port."
        ),
    )
    refresh_s: int = Field(
        5, ge=1, le=300, description="How often the page refreshes its panels."
    )
