"""Configuration of consumer lag monitoring."""

from pydantic import BaseModel, ConfigDict, Field


class LagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    burrow_port: int = Field(8000, ge=1, le=65535, description="Burrow HTTP API port.")
    warn_lag_s: float = Field(
        30.0,
        gt=0,
        description=(
            "A group further behind than this many seconds is WARN in `metricpipe "
            "lag` and on the dashboards (metricpipe's threshold, not Burrow's)."
        ),
    )
    error_lag_s: float = Field(
        120.0, gt=0, description="A group further behind than this is ERR."
    )
