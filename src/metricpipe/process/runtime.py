"""The Spark session of the job: connector jars, local settings, checkpoints."""

import importlib.metadata
import json
import logging
from pathlib import Path
from typing import Any

from metricpipe.config import Config
from metricpipe.errors import ConfigError, ProvisionError
from metricpipe.paths import Workspace
from metricpipe.provision import installers
from metricpipe.provision.components import SCALA_BINARY, by_name

log = logging.getLogger(__name__)

CONNECTOR = "spark-sql-kafka"
ROCKSDB_PROVIDER = (
    "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
)


#: The layout of the job's queries and state; raised when they change shape.
CHECKPOINT_FORMAT = 2


class CheckpointError(ConfigError):
    """The checkpoint was written by an incompatible version of the job."""


def pyspark_version() -> str:
    return importlib.metadata.version("pyspark")


def _artifact(jar: Path) -> str:
    """``kafka-clients-3.9.1.jar`` -> ``kafka-clients``."""
    stem = jar.name.removesuffix(".jar")
    parts = stem.split("-")
    while parts and parts[-1][:1].isdigit():
        parts.pop()
    return "-".join(parts)


def connector_jars(libs: Path | None = None) -> list[Path]:
    """The Kafka connector and the runtime deps pyspark does not already ship.

    Raises ``ProvisionError`` naming the Maven coordinate when the connector for
    this pyspark version is missing, instead of Spark's later "Failed to find data
    source: kafka".
    """
    component = by_name(CONNECTOR)
    version = pyspark_version()
    coordinate = f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{version}"
    if component.version != version:
        raise ProvisionError(
            CONNECTOR,
            coordinate,
            f"metricpipe pins the connector at {component.version} but pyspark is "
            f"{version}",
            "install the pinned pyspark (make setup) so Spark and the connector match",
        )

    folder = libs if libs is not None else installers.artifact_path(component)
    wanted = folder / f"spark-sql-kafka-0-10_{SCALA_BINARY}-{version}.jar"
    if not wanted.is_file():
        raise ProvisionError(
            CONNECTOR,
            coordinate,
            f"{wanted.name} is not in {folder}",
            "run `metricpipe setup` (or `make setup`) to fetch it from Maven Central",
        )

    import pyspark

    shipped = {
        _artifact(j) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")
    }
    # Jars pyspark already has (scala, hadoop, slf4j...) stay out: two versions
    # of one library on the classpath fail in confusing ways.
    return sorted(j for j in folder.glob("*.jar") if _artifact(j) not in shipped)


def checkpoint_root(config: Config, workspace: Workspace) -> Path:
    return (
        workspace.data_of("spark")
        / "checkpoints"
        / f"v{config.process.checkpoint_version}"
    )


def checkpoint_fingerprint(config: Config) -> dict[str, Any]:
    """Settings a checkpoint depends on; a change needs a new checkpoint version."""
    process = config.process
    return {
        # 2: one "rollup" query for every window size (format 1 had one
        # rollup_<w>s query per size), the dedup operator ahead of it, and the
        # anomaly state in buckets of series (format 1: one row per series).
        "format": CHECKPOINT_FORMAT,
        "shuffle_partitions": process.shuffle_partitions,
        "window_s": sorted(process.window_s),
        "anomaly_enabled": process.anomaly_enabled,
        "dedup_enabled": process.dedup_enabled,
        "raw_topic": config.kafka.topics.raw.name,
    }


def check_checkpoint(config: Config, workspace: Workspace) -> None:
    """Fail clearly when the checkpoint was made with different key settings."""
    root = checkpoint_root(config, workspace)
    meta = root / "metricpipe.json"
    wanted = checkpoint_fingerprint(config)
    if meta.exists():
        found = json.loads(meta.read_text())
        if found != wanted:
            changed = sorted(k for k in wanted if found.get(k) != wanted.get(k))
            raise CheckpointError(
                "process.checkpoint_version",
                config.process.checkpoint_version,
                f"the checkpoint in {root} was made with other {', '.join(changed)} "
                f"({ {k: found.get(k) for k in changed} })",
                f"set process.checkpoint_version = "
                f"{config.process.checkpoint_version + 1} to start a new checkpoint "
                f"(reads from process.starting_offsets), or restore the old settings",
            )
        return
    root.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(wanted, indent=2) + "\n")


def kafka_options(config: Config) -> dict[str, str]:
    """Options of Spark's Kafka source and sink: Java client settings with the
    ``kafka.`` prefix, security (kafka.security_protocol) included."""
    return {f"kafka.{k}": v for k, v in config.kafka.java_client().items()}


def spark_conf(
    config: Config, workspace: Workspace, jars: list[Path]
) -> dict[str, str]:
    process = config.process
    data = workspace.data_of("spark")
    return {
        "spark.master": process.master,
        "spark.app.name": "metricpipe-process",
        "spark.driver.memory": f"{process.driver_memory_mb}m",
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.port": str(process.ui_port),
        # Fail rather than silently take the next port: the probe asks this one.
        "spark.port.maxRetries": "0",
        "spark.ui.showConsoleProgress": "false",
        "spark.local.dir": str(data / "tmp"),
        "spark.sql.shuffle.partitions": str(process.shuffle_partitions),
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.streaming.metricsEnabled": "true",
    }
