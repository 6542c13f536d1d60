"""The committed Grafana folder is exactly what the generator writes."""

import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as gm

from metricpipe.dashboard.grafana.generate import default_urls, render_all

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parents[4]
COMMITTED = REPO / "grafana"


def committed_dashboards() -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(COMMITTED.glob("dashboards/*"))]


def test_committed_folder_matches_generator() -> None:
    expected = render_all(default_urls())
    on_disk = {
        str(p.relative_to(COMMITTED)): p.read_text()
        for p in COMMITTED.rglob("*")
        if p.is_file()
    }
    assert sorted(on_disk) == sorted(expected), "run `make grafana` and commit"
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} drifted: run `make grafana` and commit"


def test_dashboards_views_variables_and_queries() -> None:
    boards = {str(b["uid"]): b for b in committed_dashboards()}
    assert sorted(boards) == [
        "metricpipe-alerts",
        "metricpipe-hosts",
        "metricpipe-lag",
        "metricpipe-pipeline",
    ]
    variables = {
        v["name"]
        for b in boards.values()
        for v in b["templating"]["list"]  # type: ignore[index]
    }
    assert variables == {"host", "group"}

    for board in boards.values():
        for panel in board["panels"]:  # type: ignore[attr-defined]
            for target in panel["targets"]:
                if target["datasource"]["type"] == "influxdb":
                    assert target["rawQuery"] is True
                    assert "$timeFilter" in target["query"]
                else:
                    assert target["datasource"]["uid"] == "metricpipe-opensearch"


def test_dashboards_round_trip_through_the_sdk_models() -> None:
    # The SDK's own model reads each file back unchanged: no stray or misspelt key.
    for board in committed_dashboards():
        model = gm.Dashboard.from_json(board)
        assert json.loads(json.dumps(model, cls=JSONEncoder)) == board
