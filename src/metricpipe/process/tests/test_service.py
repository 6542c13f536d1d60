"""The spark service contract and the listener's failure handling, without Spark."""

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from metricpipe.config import validate_config
from metricpipe.errors import ConfigError
from metricpipe.paths import Workspace
from metricpipe.process.job import status_file
from metricpipe.process.listener import PipelineListener
from metricpipe.process.service import SparkService

pytestmark = pytest.mark.fast


def service(tmp_path: Path, **process: Any) -> SparkService:
    config = validate_config({"process": process, "kafka": {"port": 19092}})
    return SparkService(config, Workspace(tmp_path))


def test_ui_port_must_not_clash_with_kafka(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        service(tmp_path, ui_port=19092).validate()
    assert caught.value.key == "process.ui_port"


def test_dlq_records_must_fit_the_dlq_topic(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        service(tmp_path, max_message_bytes=2_000_000).validate()
    assert caught.value.key == "process.max_message_bytes"


def test_process_runs_the_job_module_with_the_validated_config(tmp_path: Path) -> None:
    spark = service(tmp_path, window_s=[10, 60])
    spark.workspace.create()
    status_file(spark.workspace).parent.mkdir(parents=True)
    status_file(spark.workspace).write_text("{}")

    spark.prepare()
    spec = spark.process()

    assert not status_file(spark.workspace).exists()  # a stale file never counts
    assert spec.argv[1:3] == ["-m", "metricpipe.process.job"]
    written = tomllib.loads(spark.config_file.read_text())
    assert written["process"]["window_s"] == [10, 60]
    assert spec.env["SPARK_LOCAL_IP"] == "127.0.0.1"


def test_probe_needs_a_live_status(tmp_path: Path) -> None:
    spark = service(tmp_path)
    assert spark.probe() is False
    status = status_file(spark.workspace)
    status.parent.mkdir(parents=True)
    status.write_text(json.dumps({"state": "running", "pid": 2**22 + 12345}))
    assert spark.probe() is False  # above pid_max: that pid cannot run
    assert spark.depends_on == ("kafka",)


class FailingConsumer:
    def commit(self, **_: Any) -> None:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))


def test_failed_commit_is_counted_and_never_raised(tmp_path: Path) -> None:
    listener = PipelineListener("127.0.0.1:1", "g", "metrics.pipeline", tmp_path / "m")
    listener._consumer = FailingConsumer()
    listener._ends["dlq"] = {"metrics.raw": {"0": 5}}

    assert listener.commit() is False
    assert listener.commit() is False
    assert listener.commit_failures == 2
