"""The Alerts view against a real OpenSearch, started by the supervisor."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from metricpipe.dashboard import schema as s
from metricpipe.dashboard.server import create_app
from metricpipe.dashboard.settings import Settings
from metricpipe.testing import running_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def search_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("search")
    overrides = {"store": {"opensearch_heap_mb": 512}}
    with running_pipeline(root, ["opensearch"], overrides) as pipeline:
        yield f"http://127.0.0.1:{pipeline.config.store.opensearch_port}"


def test_alerts_panel_reads_alert_documents(tmp_path: Path, search_url: str) -> None:
    url = search_url
    now_ms = int(time.time() * 1000)
    index = "metrics-alerts-" + time.strftime("%Y.%m.%d", time.gmtime())
    doc = {
        "series_id": "cpu|host=h1|usage_user",
        "measurement": "cpu",
        "tags": {"host": "h1"},
        "field": "usage_user",
        "value": 97.0,
        "expected": 20.0,
        "score": 6.1,
        "severity": "high",
        s.ALERT_TIME: now_ms - 60_000,
        "window_end": now_ms - 50_000,
    }
    created = httpx.post(f"{url}/{index}/_doc?refresh=true", json=doc)
    assert created.status_code in (200, 201), created.text

    settings = Settings(
        host="127.0.0.1",
        port=0,
        influxdb_url="http://127.0.0.1:9",
        search_url=url,
        refresh_s=5,
        state_file=str(tmp_path / "state.json"),
        static_dir=str(tmp_path),
    )
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/panels/alerts_rate", params={"host": "h1"}).json()
    assert body["points"] > 0, body
    assert any(row["series_id"] == doc["series_id"] for row in body["rows"])
