"""What the dashboard process needs, resolved from the pipeline config.

The supervisor writes this as JSON before each start, so the server process does
not re-read metricpipe.toml or the environment: it serves exactly what ``up``
validated.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metricpipe.config import Config

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    influxdb_url: str
    search_url: str
    refresh_s: int
    state_file: str
    static_dir: str
    kafka_bootstrap: str = ""
    lag_warn_s: float = 30.0
    lag_error_s: float = 120.0
    sink_dlq_topic: str = "metrics.sink.dlq"
    #: librdkafka settings incl. SASL secrets: the file is written 0600.
    kafka_client: dict[str, str] = field(default_factory=dict)
    #: The stores' credentials (store.influxdb_username, store.search_username);
    #: empty user: none. Secrets too, in the same 0600 file.
    influxdb_username: str = ""
    influxdb_password: str = ""
    search_username: str = ""
    search_password: str = ""

    @property
    def influx_auth(self) -> tuple[str, str] | None:
        if not self.influxdb_username:
            return None
        return self.influxdb_username, self.influxdb_password

    @property
    def search_auth(self) -> tuple[str, str] | None:
        if not self.search_username:
            return None
        return self.search_username, self.search_password

    @classmethod
    def from_config(
        cls, config: "Config", state_file: Path, static_dir: Path
    ) -> "Settings":
        dash = config.dashboard
        influx = config.store.influxdb_auth() or ("", "")
        search = config.store.search_auth() or ("", "")
        return cls(
            host=dash.host,
            port=dash.port,
            influxdb_url=dash.influxdb_url
            or f"http://{LOOPBACK}:{config.store.influxdb_port}",
            search_url=dash.search_url
            or f"http://{LOOPBACK}:{config.store.opensearch_port}",
            refresh_s=dash.refresh_s,
            state_file=str(state_file),
            static_dir=str(static_dir),
            kafka_bootstrap=config.kafka.bootstrap,
            lag_warn_s=config.lag.warn_lag_s,
            lag_error_s=config.lag.error_lag_s,
            sink_dlq_topic=config.kafka.topics.sink_dlq.name,
            kafka_client=config.kafka.librdkafka(),
            influxdb_username=influx[0],
            influxdb_password=influx[1],
            search_username=search[0],
            search_password=search[1],
        )

    def write(self, path: Path) -> None:
        from metricpipe.broker.tls import write_private

        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> "Settings":
        return cls(**json.loads(path.read_text()))
