"""Configuration of the supervisor itself."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

SERVICE_NAMES = (
    "kafka",
    "opensearch",
    "influxdb",
    "connect",
    "spark",
    "burrow",
    "telegraf",
    "dashboard",
)

# The services `up` runs when the config does not say; grows as stages land.
DEFAULT_SERVICES = (
    "kafka",
    "opensearch",
    "influxdb",
    "connect",
    "spark",
    "telegraf",
    "dashboard",
)


class SupervisorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SERVICES),
        description=(
            "Services this pipeline runs, by name; a service left out is neither "
            "started nor waited for. Allowed: " + ", ".join(SERVICE_NAMES) + "."
        ),
    )
    ready_timeout_s: float = Field(
        180.0, gt=0, description="How long one service may take to become ready."
    )
    stop_timeout_s: float = Field(
        30.0, gt=0, description="How long a service gets to stop before SIGKILL."
    )
    max_restarts: int = Field(
        5,
        ge=0,
        description="Restarts of a service that died before the supervisor gives up.",
    )
    restart_backoff_s: float = Field(
        1.0, gt=0, description="First wait before restarting a dead service; doubles."
    )
    restart_backoff_max_s: float = Field(
        30.0, gt=0, description="Longest wait between two restarts of one service."
    )
    healthy_reset_s: float = Field(
        120.0,
        gt=0,
        description="A service up this long has its restart count reset to zero.",
    )

    @field_validator("services")
    @classmethod
    def _known_services(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in SERVICE_NAMES]
        if unknown:
            raise ValueError(
                f"unknown service(s) {unknown}; allowed: {', '.join(SERVICE_NAMES)}"
            )
        return value
