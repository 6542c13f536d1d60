"""The dashboard's service contract, without starting anything."""

from pathlib import Path

import pytest

from metricpipe.config import validate_config
from metricpipe.dashboard.service import DashboardService
from metricpipe.dashboard.settings import Settings
from metricpipe.errors import ConfigError, ConfigErrors
from metricpipe.paths import Workspace
from metricpipe.provision import installers
from metricpipe.provision.components import by_name
from metricpipe.supervisor.registry import build_services

pytestmark = pytest.mark.fast


def test_registered_and_settings_resolve_local_stores(tmp_path: Path) -> None:
    config = validate_config(
        {"supervisor": {"services": ["dashboard"]}, "store": {"influxdb_port": 18086}}
    )
    workspace = Workspace(tmp_path / "ws")
    workspace.create()
    [service] = build_services(config, workspace)
    assert isinstance(service, DashboardService)
    assert service.endpoint == "127.0.0.1:8050"

    service.validate()
    service.prepare()
    settings = Settings.read(service.settings_file)
    assert settings.influxdb_url == "http://127.0.0.1:18086"
    assert settings.search_url == "http://127.0.0.1:9200"
    assert settings.state_file == str(workspace.state_file)
    assert service.process().argv[-1] == str(service.settings_file)


def test_port_clash_and_bad_urls_are_config_errors(tmp_path: Path) -> None:
    config = validate_config({"dashboard": {"port": 8086}})
    with pytest.raises(ConfigError) as raised:
        DashboardService(config, Workspace(tmp_path)).validate()
    assert raised.value.key == "dashboard.port"

    with pytest.raises(ConfigErrors) as many:
        validate_config({"dashboard": {"influxdb_url": "ftp://x/y"}})
    assert many.value.errors[0].key == "dashboard.influxdb_url"


def test_uplot_comes_from_npm_into_the_cache(tmp_path: Path) -> None:
    uplot = by_name("uplot")
    assert uplot.source == "npm" and uplot.coordinate == f"uplot@{uplot.version}"
    path = installers.artifact_path(uplot, tmp_path)
    assert path == tmp_path / "uplot" / uplot.version / "node_modules" / "uplot"
    assert by_name("chromium-driver").executable == "chromedriver"
