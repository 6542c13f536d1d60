"""The supervisor with small real processes standing in for services.

These services are test doubles of the *contract*, not of any component we ship:
each one runs a real child process, so starting, probing, rollback, restart and
stop are exercised exactly as for Kafka.
"""

import os
import sys
import time
from pathlib import Path

import pytest

from metricpipe.config import Config, validate_config
from metricpipe.errors import ConfigErrors, ServiceError
from metricpipe.paths import Workspace
from metricpipe.supervisor.service import ProcessSpec, Service
from metricpipe.supervisor.state import process_alive
from metricpipe.supervisor.supervisor import Supervisor, order_services

pytestmark = pytest.mark.fast


class Sleeper(Service):
    """A process that sleeps; ready once its marker file exists."""

    def __init__(
        self,
        config: Config,
        workspace: Workspace,
        name: str,
        depends_on: tuple[str, ...] = (),
        becomes_ready: bool = True,
        exits_at_once: bool = False,
    ) -> None:
        super().__init__(config, workspace)
        self.name = name
        self.depends_on = depends_on
        self.becomes_ready = becomes_ready
        self.exits_at_once = exits_at_once

    @property
    def marker(self) -> Path:
        return self.workspace.run / f"{self.name}.ready"

    def prepare(self) -> None:
        self.marker.unlink(missing_ok=True)

    @property
    def pid_file(self) -> Path:
        return self.workspace.run / f"{self.name}.pid"

    def pid(self) -> int:
        return int(self.pid_file.read_text())

    def process(self) -> ProcessSpec:
        record = f"import os; open({str(self.pid_file)!r}, 'w').write(str(os.getpid()))"
        if self.exits_at_once:
            code = "print('cannot bind port 1: permission denied'); raise SystemExit(3)"
        elif self.becomes_ready:
            code = (
                f"open({str(self.marker)!r}, 'w').close(); import time; time.sleep(600)"
            )
        else:
            code = "import time; time.sleep(600)"
        return ProcessSpec([sys.executable, "-c", record + "\n" + code])

    def probe(self) -> bool:
        return self.marker.exists()

    @property
    def endpoint(self) -> str:
        return f"test://{self.name}"


def make(tmp_path: Path, **supervisor: object) -> tuple[Config, Workspace]:
    config = validate_config(
        {"supervisor": {"ready_timeout_s": 5, "stop_timeout_s": 5, **supervisor}}
    )
    workspace = Workspace(tmp_path / "ws")
    workspace.create()
    return config, workspace


def test_dependencies_come_first(tmp_path: Path) -> None:
    config, ws = make(tmp_path)
    c = Sleeper(config, ws, "c", depends_on=("b",))
    b = Sleeper(config, ws, "b", depends_on=("a",))
    a = Sleeper(config, ws, "a")

    assert [s.name for s in order_services([c, b, a])] == ["a", "b", "c"]


def test_cycle_is_a_config_error(tmp_path: Path) -> None:
    config, ws = make(tmp_path)
    a = Sleeper(config, ws, "a", depends_on=("b",))
    b = Sleeper(config, ws, "b", depends_on=("a",))

    with pytest.raises(Exception, match="cycle"):
        order_services([a, b])


def test_failed_readiness_rolls_back_in_reverse(tmp_path: Path) -> None:
    config, ws = make(tmp_path, ready_timeout_s=1.5)
    first = Sleeper(config, ws, "first")
    second = Sleeper(config, ws, "second", depends_on=("first",), becomes_ready=False)
    supervisor = Supervisor(config, ws, [second, first])

    with pytest.raises(ServiceError) as caught:
        supervisor.start_all()

    assert caught.value.service == "second"
    assert "not ready within 1.5 s" in str(caught.value)
    for name in ("first", "second"):
        assert supervisor.state.get(name).pid is None
    assert supervisor.state.get("first").state == "stopped"
    assert supervisor.state.get("second").state == "failed"
    assert not process_alive(first.pid())
    assert not process_alive(second.pid())


def test_exit_before_ready_shows_log_tail(tmp_path: Path) -> None:
    config, ws = make(tmp_path)
    broken = Sleeper(config, ws, "broken", exits_at_once=True)

    with pytest.raises(ServiceError) as caught:
        Supervisor(config, ws, [broken]).start_all()

    assert "exited with code 3 before it was ready" in str(caught.value)
    assert "cannot bind port 1" in caught.value.log_tail


def test_dead_service_is_restarted_with_backoff(tmp_path: Path) -> None:
    config, ws = make(tmp_path, restart_backoff_s=0.2, max_restarts=2)
    service = Sleeper(config, ws, "victim")
    supervisor = Supervisor(config, ws, [service])
    supervisor.start_all()
    try:
        first_pid = supervisor.state.get("victim").pid
        assert first_pid is not None
        os.kill(first_pid, 9)

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            supervisor.tick()
            state = supervisor.state.get("victim")
            if state.state == "ready" and state.pid not in (None, first_pid):
                break
            time.sleep(0.05)

        state = supervisor.state.get("victim")
        assert state.state == "ready"
        assert state.restarts == 1
        assert process_alive(state.pid)
    finally:
        supervisor.stop_all()
    assert supervisor.state.get("victim").state == "stopped"


def test_gives_up_after_max_restarts(tmp_path: Path) -> None:
    config, ws = make(tmp_path, restart_backoff_s=0.1, max_restarts=1)
    service = Sleeper(config, ws, "flaky")
    supervisor = Supervisor(config, ws, [service])
    supervisor.start_all()
    try:
        for _ in range(2):
            pid = supervisor.state.get("flaky").pid
            deadline = time.monotonic() + 10
            if pid is not None:
                os.kill(pid, 9)
            while time.monotonic() < deadline:
                supervisor.tick()
                state = supervisor.state.get("flaky")
                if state.pid not in (None, pid) and state.state == "ready":
                    break
                if "gave up" in state.message:
                    break
                time.sleep(0.05)

        state = supervisor.state.get("flaky")
        assert state.state == "failed"
        assert "gave up after 1 restarts" in state.message
    finally:
        supervisor.stop_all()


def test_validate_collects_every_service_error(tmp_path: Path) -> None:
    config, ws = make(tmp_path)
    bad = validate_config({"kafka": {"port": 9000, "controller_port": 9000}})
    from metricpipe.broker.service import KafkaService

    with pytest.raises(ConfigErrors) as caught:
        Supervisor(bad, ws, [KafkaService(bad, ws)]).validate()

    assert caught.value.errors[0].key == "kafka.controller_port"
    assert config.kafka.port != config.kafka.controller_port


def test_port_in_use_names_the_key(tmp_path: Path) -> None:
    import socket

    config, ws = make(tmp_path)
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]

    class Listener(Sleeper):
        def ports(self) -> dict[str, tuple[str, int]]:
            return {"demo.port": ("127.0.0.1", port)}

    try:
        with pytest.raises(ServiceError) as caught:
            Supervisor(config, ws, [Listener(config, ws, "listener")]).start_all()
    finally:
        holder.close()

    text = str(caught.value)
    assert f"port {port} on 127.0.0.1 (demo.port) is in use" in text
    assert "set another demo.port in metricpipe.toml" in text
