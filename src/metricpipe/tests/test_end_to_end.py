"""The whole pipeline on this machine's real metrics, as `make up` runs it.

Every service starts on free loopback ports in a temporary workspace; the test
checks readiness, the connectors, `metricpipe verify`, this host's rollups in
both stores, the live dashboard in a real browser, and that `down` leaves no
process behind (in the fixture's teardown).
"""

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from metricpipe.supervisor.config import DEFAULT_SERVICES
from metricpipe.testing import TestPipeline, headless_chromium, running_pipeline

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SCREENSHOT = REPO / "test-artifacts" / "end-to-end-dashboard.png"
HOST = socket.gethostname()


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(1.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPipeline]:
    root = tmp_path_factory.mktemp("e2e")
    overrides = {"dashboard": {"refresh_s": 2}, "store": {"opensearch_heap_mb": 512}}
    with running_pipeline(root, list(DEFAULT_SERVICES), overrides) as pipeline:
        yield pipeline


def test_every_service_ready_and_connectors_running(stack: TestPipeline) -> None:
    result = stack.cli_nocfg("status", "--json")
    shown = json.loads(result.stdout)

    assert [s["name"] for s in shown["services"]] == list(DEFAULT_SERVICES)
    assert all(s["state"] == "ready" for s in shown["services"]), shown
    names = {c["name"]: c for c in shown["connectors"]}
    assert set(names) == {
        "influxdb-alert",
        "influxdb-rollup",
        "opensearch-alert",
        "opensearch-rollup",
    }
    assert all(c["state"] == "RUNNING" for c in names.values()), names
    assert result.returncode == 0, result.stderr


def test_verify_follows_the_canary_through_every_hop(stack: TestPipeline) -> None:
    result = stack.cli_nocfg("verify", "--json", "--timeout-s", "180")

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    shown = json.loads(result.stdout)
    assert [h["name"] for h in shown["hops"]] == [
        "metrics.raw",
        "metrics.rollup",
        "search",
        "influxdb",
    ]
    assert all(h["ok"] and h["latency_ms"] is not None for h in shown["hops"])
    recon = shown["reconciliation"]
    assert recon["ok"] is True
    assert recon["raw_points"] == recon["search_count"] == recon["influxdb_count"]


def test_this_hosts_metrics_reach_both_stores(stack: TestPipeline) -> None:
    store = stack.config.store

    def influx_cpu() -> int:
        answer = httpx.get(
            f"http://127.0.0.1:{store.influxdb_port}/query",
            params={
                "db": store.influxdb_database,
                "q": (
                    f'SELECT count("count") FROM "rollup_cpu" WHERE "host" = \'{HOST}\''
                ),
            },
        ).json()
        series = answer["results"][0].get("series") or []
        return int(series[0]["values"][0][1]) if series else 0

    def search_cpu() -> int:
        base = f"http://127.0.0.1:{store.opensearch_port}"
        answer = httpx.post(
            f"{base}/{store.rollup_index_prefix}-*/_count",
            json={
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"measurement": "cpu"}},
                            {"term": {"tags.host": HOST}},
                        ]
                    }
                }
            },
        )
        return int(answer.json().get("count", 0)) if answer.status_code == 200 else 0

    assert wait_for(influx_cpu, 120, f"rollup_cpu points of {HOST} in InfluxDB") > 0
    assert wait_for(search_cpu, 120, f"cpu rollup documents of {HOST}") > 0


def test_lag_lists_the_pipelines_groups(stack: TestPipeline) -> None:
    result = stack.cli_nocfg("lag", "--json")

    assert result.returncode == 0, result.stderr
    groups = {g["group"] for g in json.loads(result.stdout)}
    assert "metricpipe-spark" in groups
    assert {"connect-influxdb-rollup", "connect-opensearch-rollup"} <= groups


def test_dashboard_shows_this_host(stack: TestPipeline, tmp_path: Path) -> None:
    from metricpipe.dashboard.panels import PANELS

    endpoint = stack.state().get("dashboard").endpoint
    hosts = {p.id for p in PANELS if p.view == "hosts"}
    script = (
        "return Array.from(document.querySelectorAll('.panel'))"
        ".map(e => [e.id.replace('panel-', ''), e.dataset.state, "
        "Number(e.dataset.points)]);"
    )

    with headless_chromium(tmp_path / "profile") as browser:
        browser.get(f"http://{endpoint}/")

        def plotted() -> bool:
            rows = browser.execute_script(script)
            drawn = {r[0] for r in rows if r[1] == "ok" and r[2] > 0}
            return hosts <= drawn

        try:
            wait_for(plotted, 120, "every Hosts panel to plot this host")
        finally:
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(SCREENSHOT))
        health = browser.find_element("id", "health").text
        assert "kafka ready" in health and "spark ready" in health


def test_every_listener_is_on_loopback(stack: TestPipeline) -> None:
    """Security default: no service (nor a child: Spark workers, JVM ports)
    listens anywhere but 127.0.0.1."""
    from metricpipe.testing import non_loopback_listeners

    assert non_loopback_listeners(stack.state()) == []
