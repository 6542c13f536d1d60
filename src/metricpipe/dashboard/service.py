"""The dashboard as a supervised service."""

import logging
import sys
from pathlib import Path

import httpx

from metricpipe.dashboard.settings import Settings
from metricpipe.errors import ConfigError
from metricpipe.provision import installers
from metricpipe.provision.components import by_name
from metricpipe.supervisor.service import ProcessSpec, Service

log = logging.getLogger(__name__)


class DashboardService(Service):
    name = "dashboard"
    # The page works while the stores are still starting; it shows them as down.
    depends_on = ()

    def validate(self) -> None:
        dash = self.config.dashboard
        taken = {
            "store.influxdb_port": self.config.store.influxdb_port,
            "store.opensearch_port": self.config.store.opensearch_port,
            "store.connect_port": self.config.store.connect_port,
        }
        for key, port in taken.items():
            if port == dash.port:
                raise ConfigError(
                    "dashboard.port", dash.port, f"is also {key}", "pick another port"
                )

    @property
    def settings_file(self) -> Path:
        return self.workspace.conf / "dashboard" / "settings.json"

    @property
    def endpoint(self) -> str:
        return f"{self.config.dashboard.host}:{self.config.dashboard.port}"

    def settings(self) -> Settings:
        return Settings.from_config(
            self.config,
            self.workspace.state_file,
            installers.artifact_path(by_name("uplot")),
        )

    def prepare(self) -> None:
        settings = self.settings()
        if not (Path(settings.static_dir) / "dist" / "uPlot.iife.min.js").is_file():
            # Not fatal: the API still works; the page says what is missing.
            log.warning(
                "uPlot is not installed at %s; run `metricpipe setup --only uplot`",
                settings.static_dir,
            )
        settings.write(self.settings_file)

    def process(self) -> ProcessSpec:
        return ProcessSpec(
            [
                sys.executable,
                "-m",
                "metricpipe.dashboard.server",
                str(self.settings_file),
            ]
        )

    def probe(self) -> bool:
        response = httpx.get(f"http://{self.endpoint}/healthz", timeout=2.0)
        return response.status_code == 200 and response.json() == {"status": "ok"}
