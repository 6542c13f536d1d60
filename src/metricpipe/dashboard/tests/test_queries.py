"""Unit tests: parameter validation, query rendering and the API's refusals."""

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from metricpipe.dashboard import queries
from metricpipe.dashboard.panels import PANELS, influx_panels
from metricpipe.dashboard.server import create_app, overall
from metricpipe.dashboard.settings import Settings

pytestmark = pytest.mark.fast


def _settings(tmp_path: Path, influx: str = "http://127.0.0.1:9") -> Settings:
    return Settings(
        host="127.0.0.1",
        port=8050,
        influxdb_url=influx,
        search_url="http://127.0.0.1:9",
        refresh_s=5,
        state_file=str(tmp_path / "state.json"),
        static_dir=str(tmp_path / "uplot"),
    )


def test_defaults_and_allowed_values() -> None:
    assert queries.parse_params({}) == queries.Params("15m", None, None)
    params = queries.parse_params({"range": "1h", "host": "web-1.example", "group": ""})
    assert params == queries.Params("1h", "web-1.example", None)
    assert params.interval == "1m" and params.interval_ms == 60_000


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ({"range": "2d"}, "range"),
        ({"range": "15m; DROP DATABASE metrics"}, "range"),
        ({"host": "h1/ OR 1=1"}, "host"),
        ({"host": "a$ /"}, "host"),
        ({"group": "g' OR '1'='1"}, "group"),
        ({"group": "x" * 200}, "group"),
        ({"q": "SELECT * FROM cpu"}, "q"),
    ],
)
def test_bad_params_name_the_parameter(query: dict[str, str], key: str) -> None:
    with pytest.raises(queries.ParamError) as raised:
        queries.parse_params(query)
    assert raised.value.key == key
    assert repr(key) in str(raised.value)


def test_render_escapes_and_fills_every_placeholder() -> None:
    params = queries.Params("5m", "web-1.example", None)
    for panel in influx_panels():
        for query in panel.queries:
            text = queries.render(query.influxql, params)
            assert "$" not in text.replace("$/", ""), text
            assert "time > now() - 5m" in text
    cpu = queries.render(PANELS[0].queries[0].influxql, params)
    assert r"/^web\-1\.example$/" in cpu
    assert "GROUP BY time(10s)" in cpu


def test_group_all_matches_everything() -> None:
    lag = next(p for p in PANELS if p.id == "lag_offsets")
    text = queries.render(lag.queries[0].influxql, queries.Params())
    assert '"group" =~ /^.*$/' in text


def test_catalogue_uses_only_known_placeholders() -> None:
    known = {"$timeFilter", "$__interval", "$__interval_ms", "$host", "$group"}
    for panel in influx_panels():
        for query in panel.queries:
            found = set(re.findall(r"\$[A-Za-z_]+", query.influxql))
            assert found <= known, (panel.id, found - known)
            assert query.influxql.startswith("SELECT "), panel.id


def test_api_rejects_bad_params_with_400(tmp_path: Path) -> None:
    client = TestClient(create_app(_settings(tmp_path)))
    response = client.get("/api/panels/cpu_busy", params={"range": "7d"})
    assert response.status_code == 400
    assert response.json()["parameter"] == "range"
    assert "'range'" in response.json()["error"]

    response = client.get("/api/panels/cpu_busy", params={"host": "h1/ or /.*"})
    assert response.status_code == 400
    assert response.json()["parameter"] == "host"

    assert client.get("/api/panels/nope").status_code == 404
    assert client.get("/vendor/../../etc/passwd").status_code == 404
    assert client.get("/assets/server.py").status_code == 404
    assert client.post("/api/panels/cpu_busy").status_code == 405


def test_api_reports_a_down_store_as_502(tmp_path: Path) -> None:
    client = TestClient(create_app(_settings(tmp_path)))
    response = client.get("/api/panels/cpu_busy")
    assert response.status_code == 502
    assert "InfluxDB" in response.json()["error"]
    assert client.get("/healthz").json() == {"status": "ok"}
    health = client.get("/api/health").json()
    assert health["overall"] == "warn" and health["lag"] is None


def test_page_loads_the_chart_library_locally(tmp_path: Path) -> None:
    client = TestClient(create_app(_settings(tmp_path)))
    page = client.get("/").text
    assert 'src="/vendor/uPlot.iife.min.js"' in page
    assert "http://" not in page and "https://" not in page
    assert client.get("/vendor/uPlot.iife.min.js").status_code == 503
    dist = tmp_path / "uplot" / "dist"
    dist.mkdir(parents=True)
    (dist / "uPlot.iife.min.js").write_text("var uPlot;")
    assert client.get("/vendor/uPlot.iife.min.js").text == "var uPlot;"


def test_overall_health() -> None:
    ready = [{"state": "ready"}]
    assert overall(ready, {"g": "OK"}, 0.0) == "ok"
    assert overall(ready, {"g": "WARN"}, 0.0) == "warn"
    assert overall(ready, {"g": "OK"}, 0.2) == "warn"
    assert overall(ready, {"g": "STALL"}, 0.0) == "error"
    assert overall([{"state": "failed"}], {}, 0.0) == "error"
    assert overall(ready, None, None) == "warn"


def test_alerts_body_and_parsing() -> None:
    body = queries.alerts_search_body(queries.Params("1h", "h1", None))
    assert body["query"]["bool"]["filter"][1] == {"term": {"tags.host": "h1"}}

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/metrics-alerts-*/_search"
        return httpx.Response(
            200,
            json={
                "hits": {"hits": [{"_source": {"severity": "high", "value": 9}}]},
                "aggregations": {
                    "severity": {
                        "buckets": [
                            {
                                "key": "high",
                                "over_time": {
                                    "buckets": [{"key": 1000, "doc_count": 2}]
                                },
                            }
                        ]
                    }
                },
            },
        )

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        transport = httpx.MockTransport(answer)
        async with httpx.AsyncClient(transport=transport) as client:
            return await queries.alerts_panel(
                client, "http://127.0.0.1:9", queries.Params()
            )

    series, rows = asyncio.run(run())
    assert series == [{"label": "severity=high", "points": [[1000, 2]]}]
    assert rows == [{"severity": "high", "value": 9}]
