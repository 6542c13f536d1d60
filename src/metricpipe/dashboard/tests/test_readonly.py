"""The dashboard is read-only: every route refuses every method but GET/HEAD, and
serving requests changes no file of the workspace."""

import re
from pathlib import Path

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from metricpipe.dashboard.server import create_app
from metricpipe.dashboard.settings import Settings
from metricpipe.testing import free_port

pytestmark = pytest.mark.fast

WRITES = ("POST", "PUT", "PATCH", "DELETE")
EXAMPLES = {"name": "app.js", "panel_id": "cpu"}


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_every_route_refuses_writes_and_changes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "run" / "state.json"
    state.parent.mkdir()
    state.write_text('{"supervisor_pid": 0, "services": []}\n')
    nothing = free_port()  # nothing listens there: the stores are "down"
    settings = Settings(
        host="127.0.0.1",
        port=free_port(),
        influxdb_url=f"http://127.0.0.1:{nothing}",
        search_url=f"http://127.0.0.1:{nothing}",
        refresh_s=5,
        state_file=str(state),
        static_dir=str(tmp_path / "static"),
    )
    app = create_app(settings)
    paths = [
        re.sub(r"\{(\w+)\}", lambda m: EXAMPLES[str(m.group(1))], route.path)
        for route in app.routes
        if isinstance(route, Route)
    ]
    assert len(paths) == len(app.routes) >= 8
    before = _snapshot(tmp_path)

    with TestClient(app) as client:
        for path in paths:
            for method in WRITES:
                response = client.request(method, path, content=b"{}")
                assert response.status_code == 405, (method, path)
                assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
            # Reading works (or reports the store as down) and writes nothing.
            assert client.get(path).status_code != 405, path

    assert _snapshot(tmp_path) == before
