"""Start services in dependency order, keep them up, stop them in reverse.

The supervisor runs one single-threaded loop: it spawns every process itself, so the
Linux parent-death signal it sets on each child fires only when the supervisor
process dies, and no thread can take a child with it by exiting.
"""

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from metricpipe.broker.tls import resolve_security
from metricpipe.config import Config, save_running_config
from metricpipe.errors import ConfigError, ConfigErrors, ServiceError, WorkspaceError
from metricpipe.paths import Workspace
from metricpipe.supervisor.service import Service
from metricpipe.supervisor.state import PipelineState, ServiceState, process_alive

log = logging.getLogger(__name__)

POLL_S = 0.25
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the supervisor dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def order_services(services: list[Service]) -> list[Service]:
    """Topological order by ``depends_on``; dependencies not run here are skipped."""
    by_name = {s.name: s for s in services}
    ordered: list[Service] = []
    visiting: set[str] = set()

    def visit(service: Service) -> None:
        if service in ordered:
            return
        if service.name in visiting:
            raise ConfigError(
                "supervisor.services",
                service.name,
                "services depend on each other in a cycle",
                "this is a bug in metricpipe; please report it",
            )
        visiting.add(service.name)
        for dep in service.depends_on:
            if dep in by_name:
                visit(by_name[dep])
        visiting.discard(service.name)
        ordered.append(service)

    for service in services:
        visit(service)
    return ordered


def listen_ports(config: Config) -> dict[str, int]:
    """The fixed ports the configured services listen on, by config key (0, a
    free port picked at start, is left out)."""
    kafka, store = config.kafka, config.store
    by_service = {
        "kafka": {
            "kafka.port": kafka.port,
            "kafka.controller_port": kafka.controller_port,
        }
        if kafka.is_local
        else {},
        "opensearch": {
            "store.opensearch_port": store.opensearch_port,
            "store.opensearch_transport_port": store.opensearch_transport_port,
        },
        "influxdb": {
            "store.influxdb_port": store.influxdb_port,
            "store.influxdb_rpc_port": store.influxdb_rpc_port,
        },
        "connect": {"store.connect_port": store.connect_port},
        "spark": {"process.ui_port": config.process.ui_port},
        "burrow": {"lag.burrow_port": config.lag.burrow_port},
        "dashboard": {"dashboard.port": config.dashboard.port},
    }
    return {
        key: port
        for name in config.supervisor.services
        for key, port in by_service.get(name, {}).items()
        if port
    }


def port_clashes(config: Config) -> list[ConfigError]:
    """Two services (or one service twice) set to listen on the same port.

    Found before anything starts: otherwise the first one takes the port and the
    second fails minutes later, after its neighbours started.
    """
    owners: dict[int, str] = {}
    problems = []
    for key, port in listen_ports(config).items():
        first = owners.setdefault(port, key)
        if first != key:
            problems.append(
                ConfigError(
                    key,
                    port,
                    f"is also {first}: two services cannot listen on one port",
                    f"give {key} another port",
                )
            )
    return problems


@dataclass
class _Running:
    service: Service
    state: ServiceState
    popen: subprocess.Popen[bytes] | None = None
    ready_deadline: float = 0.0
    restart_at: float | None = None
    backoff_s: float = 0.0
    started_monotonic: float = 0.0
    history: list[float] = field(default_factory=list)


class Supervisor:
    """Runs one pipeline in one workspace."""

    def __init__(
        self,
        config: Config,
        workspace: Workspace,
        services: list[Service],
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.workspace = workspace
        self.services = order_services(services)
        self._now = now
        self._stopping = False
        self._running: dict[str, _Running] = {
            s.name: _Running(s, ServiceState(s.name, endpoint=s.endpoint))
            for s in self.services
        }
        self._state = PipelineState(
            os.getpid(), [r.state for r in self._running.values()]
        )

    # --- lifecycle ---------------------------------------------------------------

    def validate(self) -> None:
        """Validate every service's config before the first process starts."""
        # The stores' credentials (password files are read here): every client
        # of a store needs them, whichever services run.
        problems: list[ConfigError] = self.config.store.credential_errors()
        problems += port_clashes(self.config)
        for service in self.services:
            try:
                service.validate()
            except ConfigError as exc:
                problems.append(exc)
            except ConfigErrors as exc:
                problems.extend(exc.errors)
        if problems:
            raise ConfigErrors(problems)

    def request_stop(self, *_: object) -> None:
        self._stopping = True

    def run(self, on_ready: Callable[[PipelineState], None] | None = None) -> None:
        """Start everything, supervise until asked to stop, then stop everything."""
        self.validate()
        self.workspace.create()
        # Generated certificates and the password check, before anything starts.
        resolve_security(self.config.kafka, self.workspace.conf / "tls")
        self._claim_workspace()
        previous = {
            sig: signal.signal(sig, self.request_stop)
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.start_all()
            if on_ready is not None and not self._stopping:
                on_ready(self._state)
            while not self._stopping:
                self.tick()
                time.sleep(POLL_S)
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.workspace.supervisor_pid_file.unlink(missing_ok=True)

    def _claim_workspace(self) -> None:
        pid_file = self.workspace.supervisor_pid_file
        if pid_file.exists():
            try:
                other = int(pid_file.read_text().strip() or 0)
            except ValueError:
                other = 0
            if other != os.getpid() and process_alive(other):
                raise WorkspaceError(
                    f"workspace {self.workspace.root} is already run by supervisor pid "
                    f"{other}; stop it with `metricpipe down` or pass another "
                    "--workspace"
                )
        pid_file.write_text(f"{os.getpid()}\n")
        save_running_config(self.config, self.workspace.run)
        self._save()

    def start_all(self) -> None:
        """Start in dependency order; on a failure stop what started, in reverse."""
        started: list[_Running] = []
        for running in self._running.values():
            if self._stopping:
                break
            try:
                self._spawn(running)
                started.append(running)
                self._await_ready(running)
            except ServiceError:
                # The failed one keeps its 'failed' state and message for `status`.
                self._kill(running)
                for done in reversed(started):
                    if done is not running:
                        self._stop_one(done)
                raise

    def stop_all(self) -> None:
        for running in reversed(list(self._running.values())):
            self._stop_one(running)

    # --- one service ---------------------------------------------------------------

    def _check_ports(self, service: Service) -> None:
        for key, (host, port) in service.ports().items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port))
                except OSError as exc:
                    raise ServiceError(
                        service.name,
                        f"cannot start: port {port} on {host} ({key}) is in use "
                        f"({exc.strerror}); set another {key} in metricpipe.toml or "
                        "stop the program that holds it",
                    ) from None

    def _spawn(self, running: _Running) -> None:
        service = running.service
        self._check_ports(service)
        service.log_file.parent.mkdir(parents=True, exist_ok=True)
        service.data_dir.mkdir(parents=True, exist_ok=True)
        service.prepare()
        spec = service.process()

        with service.log_file.open("ab") as out:
            out.write(f"\n--- metricpipe: starting {service.name} ---\n".encode())
            out.flush()
            running.popen = subprocess.Popen(
                spec.argv,
                cwd=spec.cwd or service.data_dir,
                env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

        pid = running.popen.pid
        running.state.pid = pid
        running.state.create_time = psutil.Process(pid).create_time()
        running.state.state = "starting"
        running.state.started_at = time.time()
        if running.state.restarts:
            # Keep why it was restarted, for `status`.
            reason = running.state.message.split("; restarted after: ")[-1]
            running.state.message = f"restarted after: {reason}" if reason else ""
        else:
            running.state.message = ""
        running.started_monotonic = self._now()
        running.ready_deadline = self._now() + self.config.supervisor.ready_timeout_s
        log.info("Started service", extra={"service": service.name, "pid": pid})
        self._save()

    def _await_ready(self, running: _Running) -> None:
        while not self._stopping:
            if self._check_ready(running):
                return
            time.sleep(POLL_S)

    def _check_ready(self, running: _Running) -> bool:
        """Probe once. Raise ``ServiceError`` if the process died or timed out."""
        service = running.service
        assert running.popen is not None
        code = running.popen.poll()
        if code is not None:
            self._mark_failed(running, f"exited with code {code} before it was ready")
            raise ServiceError(service.name, running.state.message, self._tail(service))

        if self._probe(service):
            try:
                service.after_ready()
            except ServiceError:
                raise
            except Exception as exc:  # setup against a live service can fail anyhow
                self._kill(running)
                self._mark_failed(running, f"failed its setup after start: {exc}")
                raise ServiceError(
                    service.name, running.state.message, self._tail(service)
                ) from exc
            running.state.state = "ready"
            log.info("Service ready", extra={"service": service.name})
            self._save()
            return True

        if self._now() > running.ready_deadline:
            timeout = self.config.supervisor.ready_timeout_s
            self._kill(running)
            self._mark_failed(running, f"was not ready within {timeout:g} s")
            raise ServiceError(
                service.name,
                f"{running.state.message} (raise supervisor.ready_timeout_s if the "
                "machine is slow)",
                self._tail(service),
            )
        return False

    @staticmethod
    def _probe(service: Service) -> bool:
        try:
            return service.probe()
        except Exception as exc:  # a probe failing is an answer, not a crash
            log.debug("Probe failed: %s", exc)
            return False

    def tick(self) -> None:
        """One pass of supervision: notice deaths, restart with backoff."""
        sup = self.config.supervisor
        for running in self._running.values():
            state = running.state
            popen = running.popen

            if state.state == "starting" and popen is not None:
                try:
                    self._check_ready(running)
                except ServiceError as exc:
                    log.error("Service failed to restart: %s", exc.reason)
                    self._schedule_restart(running)
                continue

            if (
                state.state == "ready"
                and popen is not None
                and popen.poll() is not None
            ):
                log.error(
                    "Service died",
                    extra={"service": state.name, "code": popen.returncode},
                )
                self._kill_group(popen.pid)
                self._mark_failed(running, f"died with exit code {popen.returncode}")
                self._schedule_restart(running)
                continue

            if running.restart_at is not None and self._now() >= running.restart_at:
                running.restart_at = None
                state.restarts += 1
                try:
                    self._spawn(running)
                except (OSError, ServiceError) as exc:
                    self._mark_failed(running, f"could not be restarted: {exc}")
                    self._schedule_restart(running)

            healthy_for = self._now() - running.started_monotonic
            if state.state == "ready" and healthy_for > sup.healthy_reset_s:
                running.backoff_s = 0.0

    def _schedule_restart(self, running: _Running) -> None:
        sup = self.config.supervisor
        if running.state.restarts >= sup.max_restarts:
            running.state.message += f"; gave up after {sup.max_restarts} restarts"
            log.error(
                "Service %s gave up after %d restarts; see `metricpipe logs %s`",
                running.state.name,
                sup.max_restarts,
                running.state.name,
            )
            running.restart_at = None
            self._save()
            return
        running.backoff_s = min(
            max(running.backoff_s * 2, sup.restart_backoff_s), sup.restart_backoff_max_s
        )
        running.restart_at = self._now() + running.backoff_s
        self._save()

    def _mark_failed(self, running: _Running, message: str) -> None:
        running.state.state = "failed"
        running.state.message = message
        running.state.pid = None
        self._save()

    def _stop_one(self, running: _Running) -> None:
        popen = running.popen
        if popen is not None and popen.poll() is None:
            log.info("Stopping service", extra={"service": running.service.name})
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=self.config.supervisor.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning(
                    "Service ignored SIGTERM", extra={"service": running.service.name}
                )
        if popen is not None:
            self._kill_group(popen.pid)
            popen.poll()
        running.restart_at = None
        running.state.state = "stopped"
        running.state.pid = None
        self._save()

    def _kill(self, running: _Running) -> None:
        if running.popen is not None:
            self._kill_group(running.popen.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.popen.wait(timeout=10)

    @staticmethod
    def _kill_group(pgid: int) -> None:
        """SIGKILL whatever is left of a service's process group (JVM children too)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)

    def _tail(self, service: Service, lines: int = 20) -> str:
        try:
            text = service.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _save(self) -> None:
        self._state.write(self.workspace.state_file)

    @property
    def state(self) -> PipelineState:
        return self._state
