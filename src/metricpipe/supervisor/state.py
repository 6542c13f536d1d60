"""The supervisor's view of its services, shared through a JSON file.

The running supervisor writes ``run/state.json`` atomically after every change;
``status``, ``down`` and the dashboard read it. Readers double-check every pid,
since a supervisor killed with SIGKILL cannot update the file.
"""

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import psutil

State = Literal["starting", "ready", "failed", "stopped"]


@dataclass
class ServiceState:
    name: str
    state: State = "stopped"
    pid: int | None = None
    endpoint: str = ""
    restarts: int = 0
    started_at: float | None = None
    create_time: float | None = None
    message: str = ""


@dataclass
class PipelineState:
    supervisor_pid: int
    services: list[ServiceState] = field(default_factory=list)
    updated_at: float = field(default_factory=time.time)
    #: Filled in by readers: is the supervisor process still there?
    supervisor_alive: bool = True

    def get(self, name: str) -> ServiceState:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def write(self, path: Path) -> None:
        self.updated_at = time.time()
        self.supervisor_alive = True  # only the live supervisor writes
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state.")
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out, indent=2)
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> "PipelineState | None":
        try:
            raw = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        services = [ServiceState(**s) for s in raw.get("services", [])]
        return cls(raw["supervisor_pid"], services, raw.get("updated_at", 0.0))


def process_alive(pid: int | None, create_time: float | None = None) -> bool:
    """True if ``pid`` runs and, when given, was started at ``create_time``.

    The start time guards against a pid reused by an unrelated process.
    """
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def observed(state: PipelineState) -> PipelineState:
    """The state corrected by what is really running now."""
    supervisor_up = process_alive(state.supervisor_pid)
    state.supervisor_alive = supervisor_up
    for service in state.services:
        if not process_alive(service.pid, service.create_time):
            if service.state in ("ready", "starting"):
                service.state = "failed" if supervisor_up else "stopped"
                service.message = service.message or "process is not running"
            service.pid = None
        elif not supervisor_up:
            service.message = "supervisor is gone; process left running"
    return state
