"""Configuration of Telegraf, the collection stage."""

from pydantic import BaseModel, ConfigDict, Field


class CollectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(
        2.0, gt=0, le=3600, description="How often Telegraf gathers each input."
    )
    flush_interval_s: float = Field(
        1.0, gt=0, le=3600, description="How often Telegraf writes its buffer out."
    )
