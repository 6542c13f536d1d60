"""Which services make up a pipeline, built from the config."""

from collections.abc import Callable

from metricpipe.config import Config
from metricpipe.errors import ConfigError
from metricpipe.paths import Workspace
from metricpipe.supervisor.service import Service


def _factories() -> dict[str, Callable[[Config, Workspace], Service]]:
    # Imported here so that `metricpipe --help` does not load every stage.
    from metricpipe.broker.service import KafkaService
    from metricpipe.collect.service import TelegrafService
    from metricpipe.dashboard.service import DashboardService
    from metricpipe.process.service import SparkService
    from metricpipe.store.connect import ConnectService
    from metricpipe.store.influxdb import InfluxDBService
    from metricpipe.store.opensearch import OpenSearchService

    return {
        "kafka": KafkaService,
        "opensearch": OpenSearchService,
        "influxdb": InfluxDBService,
        "connect": ConnectService,
        "spark": SparkService,
        "telegraf": TelegrafService,
        "dashboard": DashboardService,
    }


def implemented() -> list[str]:
    return list(_factories())


def build_services(config: Config, workspace: Workspace) -> list[Service]:
    """The services to run, in the order the config names them."""
    factories = _factories()
    services: list[Service] = []
    for name in config.supervisor.services:
        if name == "kafka" and not config.kafka.is_local:
            continue  # an existing cluster is used; nothing to start
        factory = factories.get(name)
        if factory is None:
            raise ConfigError(
                "supervisor.services",
                name,
                "this service is not available in this version of metricpipe",
                f"use only {', '.join(factories)}",
            )
        services.append(factory(config, workspace))
    return services
