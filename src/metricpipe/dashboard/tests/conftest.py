"""Fixtures for the dashboard tests: one populated InfluxDB per session."""

from collections.abc import Iterator

import pytest

from metricpipe.dashboard.testdata import influxdb, populate


@pytest.fixture(scope="session")
def influx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with influxdb(tmp_path_factory.mktemp("influxdb")) as url:
        populate(url)
        yield url
