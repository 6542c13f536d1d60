"""The live page, started by the supervisor, in a real headless Chromium.

Chromium and chromedriver come from Debian's packages (components ``chromium``
and ``chromium-driver``); Selenium is pointed at them and never downloads one.
"""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver

from metricpipe.dashboard.panels import PANELS, influx_panels
from metricpipe.testing import TestPipeline, headless_chromium, running_pipeline

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[4]
SCREENSHOT = REPO / "test-artifacts" / "dashboard.png"


@pytest.fixture(scope="module")
def dashboard(
    tmp_path_factory: pytest.TempPathFactory, influx_url: str
) -> Iterator[TestPipeline]:
    overrides = {"dashboard": {"influxdb_url": influx_url, "refresh_s": 2}}
    root = tmp_path_factory.mktemp("dashboard")
    with running_pipeline(root, ["dashboard"], overrides) as pipeline:
        yield pipeline


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with headless_chromium(tmp_path / "chromium-profile") as driver:
        yield driver


def _points(driver: webdriver.Chrome) -> dict[str, tuple[str, int]]:
    script = (
        "return Array.from(document.querySelectorAll('.panel'))"
        ".map(e => [e.id, e.dataset.state, Number(e.dataset.points)]);"
    )
    rows = driver.execute_script(script)
    return {row[0].removeprefix("panel-"): (row[1], row[2]) for row in rows}


def test_service_is_supervised_and_ready(dashboard: TestPipeline) -> None:
    state = dashboard.state().get("dashboard")
    assert state.state == "ready"
    base = f"http://{state.endpoint}"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    vendor = httpx.get(f"{base}/vendor/uPlot.iife.min.js")
    assert vendor.status_code == 200 and "uPlot" in vendor.text
    health = httpx.get(f"{base}/api/health").json()
    assert [s["name"] for s in health["services"]] == ["dashboard"]


def test_page_plots_every_influx_panel(
    dashboard: TestPipeline, browser: webdriver.Chrome
) -> None:
    endpoint = dashboard.state().get("dashboard").endpoint
    browser.get(f"http://{endpoint}/")

    wanted = {p.id for p in influx_panels()}
    deadline = time.monotonic() + 60
    while True:
        seen = _points(browser)
        plotted = {k for k, (state, n) in seen.items() if state == "ok" and n > 0}
        if wanted <= plotted or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # poll interval, bounded by the deadline

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    assert wanted <= plotted, f"panels without points: {json.dumps(seen)}"
    assert set(seen) == {p.id for p in PANELS}

    # One uPlot canvas per plotted panel, drawn by the locally served library.
    canvases = browser.execute_script(
        "return document.querySelectorAll('.panel .uplot canvas').length;"
    )
    assert canvases >= len(wanted)
    overall = browser.find_element("id", "health").get_attribute("data-overall")
    assert overall in ("ok", "warn")
    text = browser.find_element("id", "health").text
    assert "dashboard ready" in text and "metricpipe-spark OK" in text

    # The page refreshes by itself (refresh_s = 2 here) ...
    first = _refreshed(browser)
    _wait(lambda: _refreshed(browser) > first, "an automatic refresh")

    # ... and on a new range, every InfluxDB panel is drawn again for it.
    browser.execute_script(
        "const r = document.getElementById('range'); r.value = '1h';"
        "r.dispatchEvent(new Event('change', {bubbles: true}));"
    )
    _wait(lambda: _ranges(browser, wanted) == {"1h"}, "panels redrawn for 1h")
    seen = _points(browser)
    assert all(seen[k][1] > 0 for k in wanted), seen


def _ranges(driver: webdriver.Chrome, ids: set[str]) -> set[str]:
    return {
        str(
            driver.execute_script(
                f"return document.getElementById('panel-{i}').dataset.range;"
            )
        )
        for i in ids
    }


def _refreshed(driver: webdriver.Chrome) -> int:
    value = driver.execute_script("return document.body.dataset.refreshed || '0';")
    return int(value)


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s}s"
        time.sleep(0.2)  # poll interval, bounded by the deadline
