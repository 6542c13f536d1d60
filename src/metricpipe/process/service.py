"""The Spark streaming job as supervised service ``spark``."""

import json
import logging
import sys
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from metricpipe.broker.tls import write_private
from metricpipe.config import dump_with_secrets
from metricpipe.errors import ConfigError
from metricpipe.process.job import status_file
from metricpipe.supervisor.service import ProcessSpec, Service
from metricpipe.supervisor.state import process_alive

log = logging.getLogger(__name__)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: unset keys are left out."""
    return {
        k: _drop_none(v) if isinstance(v, dict) else v
        for k, v in data.items()
        if v is not None
    }


class SparkService(Service):
    name = "spark"
    depends_on = ("kafka",)

    def validate(self) -> None:
        process = self.config.process
        kafka = self.config.kafka
        if process.master.startswith("local") and process.ui_port in (
            kafka.port,
            kafka.controller_port,
        ):
            raise ConfigError(
                "process.ui_port",
                process.ui_port,
                "clashes with a Kafka port",
                "pick another free port",
            )
        if process.max_message_bytes > kafka.topics.dlq.max_message_bytes - 4096:
            raise ConfigError(
                "process.max_message_bytes",
                process.max_message_bytes,
                "DLQ records carry the payload and must fit the DLQ topic "
                f"({kafka.topics.dlq.max_message_bytes} bytes with 4 KiB of headroom)",
                "lower it or raise kafka.topics.dlq.max_message_bytes",
            )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.config.process.ui_port}"

    @property
    def config_file(self) -> Path:
        return self.workspace.conf / "spark" / "metricpipe.toml"

    def prepare(self) -> None:
        # A status file left by a killed job must not make the new one look ready.
        status_file(self.workspace).unlink(missing_ok=True)

        # The job reads exactly the config the supervisor validated.
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        data = _drop_none(dump_with_secrets(self.config))
        # 0600: it holds the Kafka password when kafka.security_protocol is set.
        write_private(self.config_file, tomli_w.dumps(data))

    def process(self) -> ProcessSpec:
        argv = [sys.executable, "-m", "metricpipe.process.job"]
        argv += ["--config", str(self.config_file)]
        argv += ["--workspace", str(self.workspace.root)]
        # Python workers (the anomaly detector) must use this interpreter, and
        # Spark must bind to loopback only.
        env = {
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
        return ProcessSpec(argv, env=env)

    def probe(self) -> bool:
        """Ready when the job wrote its status (queries started) and the UI answers."""
        try:
            status = json.loads(status_file(self.workspace).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        if status.get("state") != "running" or not process_alive(status.get("pid")):
            return False
        response = httpx.get(f"{self.endpoint}/api/v1/applications", timeout=2.0)
        return response.status_code == 200
