"""store.influxdb_username: the local InfluxDB with authentication, for real.

One pipeline (Kafka, InfluxDB, Connect, Telegraf, the dashboard) runs with the
InfluxDB user and a password file. Rollups reach InfluxDB through our sink, which
logs in; requests without the password or with a wrong one are refused; Telegraf
and the dashboard log in too; a killed InfluxDB comes back with the same user;
and the password is in no output, log, command line, file others can read, nor
in Connect's REST API.
"""

import json
import os
import signal
import stat
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from metricpipe.dashboard.panels import influx_panels
from metricpipe.store.connect import connect_url, connector_states
from metricpipe.store.influxdb import influx_query
from metricpipe.store.tests.storecheck import (
    Stores,
    alert,
    key_of,
    rollup,
    wait_for,
    window_now,
)
from metricpipe.testing import cli, running_pipeline

pytestmark = pytest.mark.integration

USER = "metricpipe-admin"
#: Letters and digits only: it shows as is in every file that holds the password.
MARK = "s3cretInfluxStackMark"
#: What each generated file must escape: \ " ' $ # = space and non-ASCII.
PASSWORD = MARK + "\\\"x'y $HOME$$z #=é"
SERVICES = ["kafka", "influxdb", "connect", "telegraf", "dashboard"]
SINKS = {"influxdb-rollup", "influxdb-alert"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    root = tmp_path_factory.mktemp("influxauth")
    password_file = root / "influxdb-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    overrides = {
        "store": {
            "influxdb_username": USER,
            "influxdb_password_file": str(password_file),
            "sink_retry_backoff_ms": 500,
            "sink_offset_flush_interval_ms": 1000,
        }
    }
    with running_pipeline(root, SERVICES, overrides) as pipeline:
        yield Stores(pipeline)


def _influx(stores: Stores) -> str:
    return f"http://127.0.0.1:{stores.influx_port}"


def test_rollups_reach_influxdb_through_the_authenticated_sink(stack: Stores) -> None:
    states = {s.name: s for s in connector_states(stack.pipeline.config)}
    assert set(states) == SINKS
    assert all(s.running for s in states.values()), states

    host = f"h-{uuid.uuid4().hex[:8]}"
    start = window_now()
    rollups = [rollup(host, f"{host}-s{i}", start) for i in range(5)]
    the_alert = alert(host, f"{host}-s0", start)
    stack.produce("metrics.rollup", [(key_of(r), r) for r in rollups])
    stack.produce("metrics.alerts", [(key_of(the_alert), the_alert)])

    wait_for(
        lambda: len(stack.points("rollup_cpu", host)) == 5,
        90,
        "5 rollup points in InfluxDB",
        every_s=1,
    )
    assert wait_for(
        lambda: stack.points("alert_cpu", host), 60, "the alert point", every_s=1
    )


def test_no_password_or_a_wrong_one_is_refused(stack: Stores) -> None:
    url = _influx(stack)
    show = {"q": "SHOW DATABASES"}

    assert httpx.post(f"{url}/query", data=show, timeout=10).status_code == 401
    wrong = (USER, PASSWORD + "-wrong")
    assert (
        httpx.post(f"{url}/query", data=show, auth=wrong, timeout=10).status_code == 401
    )
    write = httpx.post(
        f"{url}/write", params={"db": "metrics"}, content="x v=1", timeout=10
    )
    assert write.status_code == 401

    right = httpx.post(f"{url}/query", data=show, auth=(USER, PASSWORD), timeout=10)
    assert right.status_code == 200
    assert "metrics" in right.text
    # InfluxDB 1.6 answers /ping without credentials: the readiness probe.
    assert httpx.get(f"{url}/ping", timeout=10).status_code == 204


def test_telegraf_and_the_dashboard_log_in(stack: Stores) -> None:
    config = stack.pipeline.config
    auth = config.store.influxdb_auth()

    # Telegraf writes its own statistics to the pipeline database directly.
    def telegraf_points() -> list[dict[str, Any]]:
        return influx_query(
            stack.influx_port,
            'SELECT count("metrics_written") FROM "internal_write"',
            database=config.store.influxdb_pipeline_database,
            auth=auth,
        )

    assert wait_for(telegraf_points, 90, "Telegraf's points in InfluxDB", every_s=2)

    dashboard = f"http://127.0.0.1:{config.dashboard.port}"
    health = httpx.get(f"{dashboard}/api/health", timeout=10).json()
    assert health["lag"] is not None, health  # None: InfluxDB refused the query
    panel = influx_panels()[0]
    answer = httpx.get(f"{dashboard}/api/panels/{panel.id}", timeout=10)
    assert answer.status_code == 200, answer.text


def test_a_killed_influxdb_comes_back_with_the_same_user(stack: Stores) -> None:
    killed = stack.pipeline.state().get("influxdb").pid
    assert killed is not None
    os.kill(killed, signal.SIGKILL)

    def restarted() -> bool:
        influx = stack.pipeline.state().get("influxdb")
        return influx.pid != killed and influx.state == "ready"

    # Ready again means after_ready ran CREATE USER again, authenticated.
    wait_for(restarted, 90, "InfluxDB restarted by the supervisor", every_s=0.5)
    host = f"h-{uuid.uuid4().hex[:8]}"
    records = [rollup(host, f"{host}-k{i}", window_now()) for i in range(3)]
    stack.produce("metrics.rollup", [(key_of(r), r) for r in records])
    wait_for(
        lambda: len(stack.points("rollup_cpu", host)) == 3,
        90,
        "3 points after the restart",
        every_s=1,
    )
    log = stack.pipeline.workspace.log_of("supervisor")
    assert "refused the configured credentials" not in (
        log.read_text() if log.exists() else ""
    )


def test_the_password_is_in_no_output_log_rest_answer_or_shared_file(
    stack: Stores,
) -> None:
    pipeline = stack.pipeline
    outputs = [
        pipeline.cli_nocfg("status", "--json"),
        pipeline.cli_nocfg("status"),
        cli("config", "check", "--json", "--config", str(pipeline.config_file)),
        pipeline.cli_nocfg("lag", "--json"),
    ]
    for result in outputs:
        assert result.returncode == 0, result.stdout + result.stderr
        assert MARK not in result.stdout + result.stderr
    checked = json.loads(outputs[2].stdout)["store"]
    assert checked["influxdb_username"] == USER
    shown = json.loads(outputs[0].stdout)
    assert {c["name"] for c in shown["connectors"]} == SINKS

    # Connect's REST API holds the reference, never the password.
    base = connect_url(pipeline.config)
    for name in SINKS:
        body = httpx.get(f"{base}/connectors/{name}/config", timeout=10)
        assert body.status_code == 200
        assert MARK not in body.text
        assert body.json()["store.password"].startswith("${file:")
        tasks = httpx.get(f"{base}/connectors/{name}/tasks", timeout=10)
        assert tasks.status_code == 200
        assert MARK not in tasks.text
    listing = httpx.get(
        f"{base}/connectors", params=[("expand", "info"), ("expand", "status")]
    )
    assert MARK not in listing.text

    # Nor in any command line (ps shows those to every user).
    assert pipeline.command_lines_holding(MARK) == []

    root = pipeline.workspace.root
    holders = []
    for path in pipeline.files_holding(MARK):
        holders.append(str(path.relative_to(root)))
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        assert "logs" not in path.parts, f"the password is in the log {path}"
    # Those a child process reads it from, and nothing else.
    assert set(holders) <= {
        "conf/connect/store-secrets.properties",
        "conf/telegraf/telegraf.conf",
        "conf/dashboard/settings.json",
    }, holders
    assert "conf/connect/store-secrets.properties" in holders
    assert "conf/connect/worker.properties" not in holders


def test_a_changed_password_is_refused_with_the_fix(tmp_path: Path) -> None:
    """The admin user stays as created: another password makes `up` fail with a
    message saying what to do; the original one starts again (idempotent)."""
    first = {"influxdb_username": USER, "influxdb_password": MARK + "-first"}
    with running_pipeline(tmp_path, ["influxdb"], {"store": first}) as pipeline:
        data = tomllib.loads(pipeline.config_file.read_text())
    workspace = str(pipeline.workspace.root)

    other = tmp_path / "other.toml"
    data["store"]["influxdb_password"] = "An0therPassMark"
    other.write_text(tomli_w.dumps(data))
    try:
        refused = cli(
            "up", "--detach", "--workspace", workspace, "--config", str(other)
        )
        output = refused.stdout + refused.stderr
        assert refused.returncode == 4, output
        assert "refused the configured credentials" in output
        assert "fresh --workspace" in output
        assert "An0therPassMark" not in output
    finally:
        cli("down", "--workspace", workspace)

    config_file = str(pipeline.config_file)
    try:
        again = cli("up", "--detach", "--workspace", workspace, "--config", config_file)
        assert again.returncode == 0, again.stdout + again.stderr
        assert (
            httpx.post(
                f"http://127.0.0.1:{pipeline.config.store.influxdb_port}/query",
                data={"q": "SHOW USERS"},
                auth=(USER, MARK + "-first"),
                timeout=10,
            ).status_code
            == 200
        )
    finally:
        cli("down", "--workspace", workspace)
    assert stat.S_IMODE((tmp_path / "ws" / "conf").stat().st_mode) == 0o700
