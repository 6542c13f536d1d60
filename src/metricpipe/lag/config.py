"""Configuration of consumer lag monitoring."""

from pydantic import BaseModel, ConfigDict, Field


class LagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    burrow_port: int = Field(8000, ge=1, le=65535, description="Burrow HTTP API port.")
