"""Where metricpipe keeps its files.

Downloads and builds are cached outside the repository, under the XDG cache dir, so
that a fresh clone reuses them. Everything a running pipeline writes (data, logs,
generated configs, state) lives under the workspace.
"""

import os
from dataclasses import dataclass
from pathlib import Path

WORKSPACE_ENV = "METRICPIPE_WORKSPACE"
DEFAULT_WORKSPACE = ".metricpipe"


def cache_dir() -> Path:
    """The component cache: ``$METRICPIPE_CACHE`` or ``$XDG_CACHE_HOME/metricpipe``."""
    explicit = os.environ.get("METRICPIPE_CACHE")
    if explicit:
        return Path(explicit).expanduser().resolve()

    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().resolve() / "metricpipe"


@dataclass(frozen=True)
class Workspace:
    """The folder one pipeline runs in, and the fixed layout beneath it."""

    root: Path

    @classmethod
    def resolve(cls, given: str | Path | None) -> "Workspace":
        raw = given or os.environ.get(WORKSPACE_ENV) or DEFAULT_WORKSPACE
        return cls(Path(raw).expanduser().resolve())

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def state_file(self) -> Path:
        return self.run / "state.json"

    @property
    def supervisor_pid_file(self) -> Path:
        return self.run / "supervisor.pid"

    def log_of(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def data_of(self, service: str) -> Path:
        return self.data / service

    def create(self) -> None:
        for folder in (self.data, self.logs, self.conf, self.run):
            folder.mkdir(parents=True, exist_ok=True)
        # Generated configs may carry credentials: keep them from other users.
        self.conf.chmod(0o700)
