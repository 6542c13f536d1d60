"""Configuration of the built-in dashboard."""

from pydantic import BaseModel, ConfigDict, Field


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(8050, ge=1, le=65535, description="Dashboard HTTP port.")
