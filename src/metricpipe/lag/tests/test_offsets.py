"""Lag in offsets and seconds, read from a real broker."""

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from metricpipe.lag.offsets import LagReader, threshold_status
from metricpipe.testing import TestPipeline

pytestmark = pytest.mark.integration

TOPIC = "metrics.alerts"  # one partition, so offsets are easy to reason about


def produce(bootstrap: str, count: int, partition: int = 0, topic: str = TOPIC) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(count):
        producer.produce(topic, value=f"m{i}".encode(), partition=partition)
    assert producer.flush(15) == 0


def commit(bootstrap: str, group: str, offsets: list[TopicPartition]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    consumer.commit(offsets=offsets, asynchronous=False)
    consumer.close()


def end_offset(bootstrap: str, topic: str, partition: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t"})
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
    consumer.close()
    return int(high)


def test_lag_offsets_and_age(kafka_pipeline: TestPipeline) -> None:
    bootstrap = kafka_pipeline.config.kafka.bootstrap
    group = f"lagtest-{uuid.uuid4()}"
    produce(bootstrap, 5)
    start = end_offset(bootstrap, TOPIC, 0) - 5
    commit(bootstrap, group, [TopicPartition(TOPIC, 0, start + 2)])
    time.sleep(1.5)  # the backlog must age so that seconds of lag are measurable

    (found,) = LagReader(bootstrap).read([group])

    (part,) = found.partitions
    assert part.committed == start + 2
    assert part.lag == 3
    assert found.total_lag == 3
    assert part.lag_s is not None and 1.0 <= part.lag_s < 60


def test_caught_up_group_has_zero_lag(kafka_pipeline: TestPipeline) -> None:
    bootstrap = kafka_pipeline.config.kafka.bootstrap
    group = f"caughtup-{uuid.uuid4()}"
    produce(bootstrap, 2)
    commit(
        bootstrap, group, [TopicPartition(TOPIC, 0, end_offset(bootstrap, TOPIC, 0))]
    )

    (found,) = LagReader(bootstrap).read([group])

    assert found.total_lag == 0
    assert found.lag_s == 0.0


def test_partition_never_committed_is_unknown(kafka_pipeline: TestPipeline) -> None:
    bootstrap = kafka_pipeline.config.kafka.bootstrap
    group = f"partial-{uuid.uuid4()}"
    produce(bootstrap, 10, partition=1, topic="metrics.raw")
    commit(bootstrap, group, [TopicPartition("metrics.raw", 0, 0)])

    (found,) = LagReader(bootstrap).read([group])

    by_partition = {p.partition: p for p in found.partitions}
    assert set(by_partition) == {0, 1, 2}
    assert by_partition[1].lag is None and by_partition[1].lag_s is None
    assert by_partition[2].lag is None
    assert found.unknown_partitions == 2
    # Partition 1 holds at least 10 records: none of them may count as lag.
    assert found.total_lag == by_partition[0].lag


def test_lag_cli_json(kafka_pipeline: TestPipeline) -> None:
    bootstrap = kafka_pipeline.config.kafka.bootstrap
    group = f"cli-{uuid.uuid4()}"
    produce(bootstrap, 4)
    commit(
        bootstrap,
        group,
        [TopicPartition(TOPIC, 0, end_offset(bootstrap, TOPIC, 0) - 4)],
    )

    result = kafka_pipeline.cli("lag", "--json", "--group", group)

    assert result.returncode == 0, result.stderr
    (shown,) = json.loads(result.stdout)
    assert shown["group"] == group
    assert shown["total_lag"] == 4
    assert shown["worst_partition"] == f"{TOPIC}[0]"


@pytest.mark.fast
def test_threshold_status_and_telegraf_rows() -> None:
    from metricpipe.lag.offsets import GroupLag, PartitionLag, telegraf_rows

    assert threshold_status(None, 30, 120) == "UNKNOWN"
    assert threshold_status(0.0, 30, 120) == "OK"
    assert threshold_status(31.0, 30, 120) == "WARN"
    assert threshold_status(121.0, 30, 120) == "ERR"

    behind = GroupLag("g", "STABLE", [PartitionLag("t", 0, 5, 9, 4, 45.0)])
    never = GroupLag("n", "EMPTY", [PartitionLag("t", 0, None, 9, None, None)])
    rows = telegraf_rows([behind, never], 30, 120)

    assert rows[0] == {
        "group": "g",
        "lag": 4,
        "unknown_partitions": 0,
        "status": "WARN",
        "status_code": 1,
        "lag_s": 45.0,
    }
    assert rows[1]["status"] == "UNKNOWN" and "lag_s" not in rows[1]
