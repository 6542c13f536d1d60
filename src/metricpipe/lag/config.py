"""Configuration of consumer lag monitoring."""

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


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

    @field_validator("error_lag_s")
    @classmethod
    def _error_above_warn(cls, value: float, info: ValidationInfo) -> float:
        warn = info.data.get("warn_lag_s")
        if warn is not None and value <= warn:
            raise ValueError(
                f"must be above lag.warn_lag_s ({warn}): a group is WARN before ERR"
            )
        return value
