"""Configuration of the Spark Structured Streaming job."""

from pydantic import BaseModel, ConfigDict, Field


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
