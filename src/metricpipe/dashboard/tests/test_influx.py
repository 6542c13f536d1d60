"""Every InfluxQL panel query against a real InfluxDB holding sample data."""

import re
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from metricpipe.dashboard.panels import influx_panels
from metricpipe.dashboard.server import create_app
from metricpipe.dashboard.settings import Settings
from metricpipe.dashboard.testdata import GROUPS, HOSTS
from metricpipe.dashboard.tests.test_grafana import committed_dashboards

pytestmark = pytest.mark.integration


def grafana_substitute(query: str) -> str:
    """What Grafana sends for a 15-minute view with one host and all groups.

    Written independently of the server's renderer on purpose: this checks the
    committed JSON as Grafana would run it.
    """
    values = {
        "timeFilter": "time >= now() - 15m",
        "__interval_ms": "30000",
        "__interval": "30s",
        "host": HOSTS[0],
        "group": "(" + "|".join(GROUPS) + ")",
    }
    pattern = r"\$(timeFilter|__interval_ms|__interval|host|group)\b"
    return re.sub(pattern, lambda m: values[m.group(1)], query)


def grafana_targets() -> list[tuple[str, str]]:
    found = []
    for board in committed_dashboards():
        for panel in board["panels"]:  # type: ignore[attr-defined]
            for target in panel["targets"]:
                if target["datasource"]["type"] == "influxdb":
                    found.append(
                        (f"{panel['title']}/{target['refId']}", target["query"])
                    )
    return found


def test_every_grafana_influxql_query_returns_data(influx_url: str) -> None:
    targets = grafana_targets()
    assert len(targets) >= len(influx_panels())
    empty = []
    for name, query in targets:
        response = httpx.get(
            f"{influx_url}/query", params={"q": grafana_substitute(query)}
        )
        assert response.status_code == 200, (name, response.text)
        result = response.json()["results"][0]
        assert "error" not in result, (name, result)
        if not any(series.get("values") for series in result.get("series", [])):
            empty.append(name)
    assert not empty, f"queries with no data: {empty}"


def test_live_api_returns_points_for_every_influx_panel(
    influx_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        influxdb_url=influx_url,
        search_url="http://127.0.0.1:9",
        refresh_s=5,
        state_file=str(tmp_path / "state.json"),
        static_dir=str(tmp_path),
    )
    with TestClient(create_app(settings)) as client:
        for range_ in ("5m", "15m", "1h"):
            for panel in influx_panels():
                response = client.get(
                    f"/api/panels/{panel.id}", params={"range": range_}
                )
                assert response.status_code == 200, response.text
                assert response.json()["points"] > 0, (panel.id, range_)

        one_host = client.get("/api/panels/cpu_busy", params={"host": HOSTS[1]})
        labels = [series["label"] for series in one_host.json()["series"]]
        assert labels == [f"busy host={HOSTS[1]}"]
        nobody = client.get("/api/panels/cpu_busy", params={"host": "nohost"})
        assert nobody.json()["points"] == 0

        health = client.get("/api/health").json()
        assert health["lag"] == {GROUPS[0]: "OK", GROUPS[1]: "WARN"}
        assert health["dlq_rate"] > 0
        assert health["overall"] == "warn"
