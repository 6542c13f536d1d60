"""The Alerts view against a real OpenSearch, when one is configured.

The store stage provides the OpenSearch service; until then this test runs only
if ``METRICPIPE_TEST_OPENSEARCH_URL`` names a reachable loopback OpenSearch, and
is SKIPPED otherwise (the skip reason says so).
"""

import os
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from starlette.testclient import TestClient

from metricpipe.dashboard import schema as s
from metricpipe.dashboard.server import create_app
from metricpipe.dashboard.settings import Settings

pytestmark = pytest.mark.integration

URL_ENV = "METRICPIPE_TEST_OPENSEARCH_URL"


def _search_url() -> str:
    url = os.environ.get(URL_ENV, "")
    if not url:
        pytest.skip(f"OpenSearch-backed panel not tested: set {URL_ENV}")
    if urlparse(url).hostname not in ("127.0.0.1", "localhost"):
        pytest.fail(f"{URL_ENV} must be a loopback URL, not {url}")
    try:
        httpx.get(url, timeout=2.0).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"OpenSearch-backed panel not tested: {url} unreachable ({exc})")
    return url


def test_alerts_panel_reads_alert_documents(tmp_path: Path) -> None:
    url = _search_url()
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
