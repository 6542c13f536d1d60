"""Retention deletes raw records while the job is stopped: the gap is counted.

A real broker with a raw topic kept for 3 s: the job reads a first batch and is
stopped, records are produced and expire, the job starts again. It must keep
running (process.fail_on_data_loss is false) and count exactly the expired
records in data_loss_messages: in metrics.json, on metrics.pipeline and in
``metricpipe verify --json``.
"""

import json
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from metricpipe.testing import TestPipeline, running_pipeline

pytestmark = pytest.mark.integration

DEADLINE_S = 180
LOST = 37


def metric(i: int) -> bytes:
    payload = {
        "name": "retention",
        "tags": {"host": "data-loss"},
        "fields": {"v": i},
        "timestamp": int(time.time() * 1000),
    }
    return json.dumps(payload).encode()


def produce(bootstrap: str, count: int, first: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(first, first + count):
        # One partition, so the expected gap is exact offsets.
        producer.produce("metrics.raw", value=metric(i), partition=0)
    assert producer.flush(30) == 0


def wait_for(what: str, check: Any) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(1)


def committed(bootstrap: str, group: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        [tp] = consumer.committed([TopicPartition("metrics.raw", 0)], timeout=10)
        return int(tp.offset)
    finally:
        consumer.close()


def low_watermark(bootstrap: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "data-loss-probe"})
    try:
        low, _ = consumer.get_watermark_offsets(TopicPartition("metrics.raw", 0), 10)
        return int(low)
    finally:
        consumer.close()


def short_retention(bootstrap: str) -> None:
    """Keep raw records 3 s, in 1 s segments (only closed segments expire)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        "metrics.raw",
        incremental_configs=[
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in (("retention.ms", "3000"), ("segment.ms", "1000"))
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result()


def restart_with(pipeline: TestPipeline, services: list[str]) -> None:
    assert pipeline.cli("down").returncode == 0
    data = tomllib.loads(pipeline.config_file.read_text())
    data["supervisor"]["services"] = services
    pipeline.config_file.write_text(tomli_w.dumps(data))
    started = pipeline.cli("up", "--detach")
    assert started.returncode == 0, f"{started.stdout}\n{started.stderr}"


def saved_loss(pipeline: TestPipeline) -> int | None:
    path = pipeline.workspace.data_of("spark") / "metrics.json"
    try:
        return int(json.loads(path.read_text())["data_loss"]["data_loss_messages"])
    except (OSError, ValueError, KeyError):
        return None


def test_records_expired_while_the_job_was_stopped_are_counted(
    tmp_path: Path,
) -> None:
    overrides = {"process": {"master": "local[2]", "trigger_s": 1.0}}
    with running_pipeline(tmp_path, ["kafka", "spark"], overrides) as pipeline:
        bootstrap = pipeline.config.kafka.bootstrap
        group = pipeline.config.process.consumer_group
        produce(bootstrap, 5)
        wait_for(
            "the job to read the first records",
            lambda: committed(bootstrap, group) >= 5,
        )
        assert saved_loss(pipeline) == 0

        # The job is stopped; what is produced now expires before it returns.
        restart_with(pipeline, ["kafka"])
        short_retention(bootstrap)
        time.sleep(1.5)  # the first segment is older than segment.ms: it rolls
        produce(bootstrap, LOST, first=5)
        # The broker checks retention every minute; an expired active segment
        # is rolled and deleted as well.
        wait_for(
            "retention to delete the records",
            lambda: low_watermark(bootstrap) == 5 + LOST,
        )

        restart_with(pipeline, ["kafka", "spark"])
        wait_for(
            "the job to read past the gap",
            lambda: committed(bootstrap, group) >= 5 + LOST,
        )
        assert wait_for("the gap in metrics.json", lambda: saved_loss(pipeline)) == LOST

        shown = pipeline.cli("verify", "--json", "--timeout-s", "120")
        assert shown.returncode == 0, f"{shown.stdout}\n{shown.stderr}"
        assert json.loads(shown.stdout)["data_loss_messages"] == LOST

        state = pipeline.state().get("spark")
        assert (state.state, state.restarts) == ("ready", 0)
