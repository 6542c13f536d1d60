"""The small contract every supervised service implements.

A service validates its config without I/O, prepares its files, names the process to
start, answers a protocol-level readiness probe and, once ready, may run one-off
setup (topics, connectors). The supervisor owns the process: it starts it, watches
it, restarts it and stops it.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from metricpipe.paths import Workspace

if TYPE_CHECKING:
    from metricpipe.config import Config


@dataclass
class ProcessSpec:
    """What to exec for a service: argv, extra environment and working dir."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


class Service(ABC):
    """One supervised process of the pipeline."""

    #: Fixed name used by ``status``, ``logs`` and the docs.
    name: str = ""
    #: Services that must be ready before this one starts.
    depends_on: tuple[str, ...] = ()

    def __init__(self, config: "Config", workspace: Workspace) -> None:
        self.config = config
        self.workspace = workspace

    def validate(self) -> None:  # noqa: B027 - optional hook
        """Check this service's config; raise ``ConfigError``. No I/O here."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Write generated configs and initialise storage before each start."""

    @abstractmethod
    def process(self) -> ProcessSpec:
        """The process to start."""

    @abstractmethod
    def probe(self) -> bool:
        """True once the service answers at the protocol level. Never sleeps."""

    def after_ready(self) -> None:  # noqa: B027 - optional hook
        """One-off setup once ready (topics, connectors, databases)."""

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where users and other services reach it, e.g. ``127.0.0.1:9092``."""

    def ports(self) -> dict[str, tuple[str, int]]:
        """Ports this service will listen on, by config key: ``{key: (host, port)}``.

        The supervisor checks they are free before starting, so a port in use is
        reported with the key to change instead of as a bind error deep in a log.
        """
        return {}

    @property
    def log_file(self) -> Path:
        return self.workspace.log_of(self.name)

    @property
    def data_dir(self) -> Path:
        return self.workspace.data_of(self.name)
