"""Helpers for tests that run real components: free ports and detached pipelines.

A test pipeline is started exactly as a user starts one, through
``metricpipe up --detach`` with its own config file and workspace, so the tests
exercise the real CLI and supervisor.
"""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import tomli_w

from metricpipe.config import Config, load_config, merge
from metricpipe.paths import Workspace
from metricpipe.supervisor.state import PipelineState, process_alive

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@contextmanager
def headless_chromium(profile_dir: Path, height: int = 3600) -> Iterator[Any]:
    """Debian's Chromium driven by Selenium; never a downloaded browser."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService

    if not Path(CHROMEDRIVER).exists():
        raise AssertionError(
            "chromedriver missing: run `metricpipe setup --only chromium-driver`"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size=1000,{height}",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=ChromeService(executable_path=CHROMEDRIVER), options=options
    )
    try:
        yield driver
    finally:
        driver.quit()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run the real ``metricpipe`` command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "metricpipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class TestPipeline:
    __test__ = False  # a helper, not a test class
    root: Path
    config_file: Path
    config: Config
    workspace: Workspace

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return cli(
            *args,
            "--workspace",
            str(self.workspace.root),
            "--config",
            str(self.config_file),
            timeout=timeout,
        )

    def cli_nocfg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(*args, "--workspace", str(self.workspace.root))

    def state(self) -> PipelineState:
        state = PipelineState.read(self.workspace.state_file)
        assert state is not None, "the supervisor wrote no state file"
        return state

    def command_lines_holding(self, secret: str) -> list[tuple[str, int]]:
        """(service, pid) of every service process or child whose command line
        holds ``secret``: ps shows command lines to every user."""
        found = []
        for service in self.state().services:
            assert service.pid is not None, service
            parent = psutil.Process(service.pid)
            for proc in [parent, *parent.children(recursive=True)]:
                try:
                    argv = " ".join(proc.cmdline())
                except psutil.NoSuchProcess:  # gone, or a zombie, since listed
                    continue
                if secret in argv:
                    found.append((service.name, proc.pid))
        return found

    def files_holding(self, secret: str) -> list[Path]:
        """Every regular file under the workspace whose bytes hold ``secret``."""
        found = []
        for path in self.workspace.root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            try:
                text = path.read_bytes()
            except OSError:
                continue
            if secret.encode() in text:
                found.append(path)
        return found

    def leftover_pids(self, state: PipelineState) -> list[int]:
        pids = [state.supervisor_pid] + [
            s.pid for s in state.services if s.pid is not None
        ]
        return [pid for pid in pids if process_alive(pid)]


def local_ports_config(services: list[str]) -> dict[str, Any]:
    """Config with every local listener on a free port, so tests never collide."""
    return {
        "supervisor": {"services": services, "ready_timeout_s": 240},
        "kafka": {"port": free_port(), "controller_port": free_port()},
        "store": {
            "influxdb_port": free_port(),
            "opensearch_port": free_port(),
            "connect_port": free_port(),
        },
        "process": {"ui_port": free_port()},
        "lag": {"burrow_port": free_port()},
        "dashboard": {"port": free_port()},
    }


@contextmanager
def running_pipeline(
    root: Path, services: list[str], overrides: dict[str, Any] | None = None
) -> Iterator[TestPipeline]:
    """Start a pipeline with ``up --detach``; always ``down`` it afterwards."""
    data = merge(local_ports_config(services), overrides or {})
    config_file = root / "metricpipe.toml"
    config_file.write_text(tomli_w.dumps(data))
    pipeline = TestPipeline(
        root=root,
        config_file=config_file,
        config=load_config(config_file, environ={}),
        workspace=Workspace(root / "ws"),
    )
    started = pipeline.cli("up", "--detach")
    try:
        output = f"{started.stdout}\n{started.stderr}"
        assert started.returncode == 0, f"up --detach failed: {output}"
        yield pipeline
    finally:
        state = PipelineState.read(pipeline.workspace.state_file)
        pipeline.cli("down")
        if state is not None:
            left = pipeline.leftover_pids(state)
            assert not left, f"processes left running after down: {left}"


def non_loopback_listeners(state: PipelineState) -> list[str]:
    """Listening sockets of the pipeline's processes (and their children) that
    are not bound to 127.0.0.1, as ``service pid address:port`` lines."""
    import ipaddress

    import psutil

    def loopback_v4(address: str) -> bool:
        ip = ipaddress.ip_address(address)
        # A Java socket on 127.0.0.1 shows as the IPv4-mapped ::ffff:127.0.0.1.
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return str(ip) == "127.0.0.1"

    found = []
    for service in state.services:
        if service.pid is None or not process_alive(service.pid):
            continue
        parent = psutil.Process(service.pid)
        for proc in [parent, *parent.children(recursive=True)]:
            try:
                connections = proc.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            for conn in connections:
                if conn.status != psutil.CONN_LISTEN:
                    continue
                if not loopback_v4(conn.laddr.ip):
                    found.append(
                        f"{service.name} {proc.pid} {conn.laddr.ip}:{conn.laddr.port}"
                    )
    return found
