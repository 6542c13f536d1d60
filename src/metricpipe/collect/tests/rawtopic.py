"""Read what Telegraf wrote to the raw topic, for the collection tests."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition


@dataclass(frozen=True)
class RawRecord:
    key: bytes | None
    record_ts_ms: int
    received_ms: int
    metric: dict[str, Any]


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "metricpipe-collect-tests",
            "enable.auto.commit": False,
            # Small fetch waits: the delay the tests measure is Telegraf's, not ours.
            "fetch.wait.max.ms": 10,
            "log_level": 0,
        }
    )


def _decode(message: Any) -> RawRecord:
    return RawRecord(
        key=message.key(),
        record_ts_ms=message.timestamp()[1],
        received_ms=int(time.time() * 1000),
        metric=json.loads(message.value()),
    )


def _start_offsets(
    consumer: Consumer, topic: str, from_beginning: bool, deadline: float
) -> list[TopicPartition]:
    """Low or high watermarks of every partition.

    Right after a broker restart its partitions may have no leader yet
    (NOT_LEADER_FOR_PARTITION), so this asks again until the deadline.
    """
    while True:
        try:
            metadata = consumer.list_topics(topic, timeout=5)
            offsets = []
            for partition in metadata.topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=5
                )
                offsets.append(
                    TopicPartition(topic, partition, low if from_beginning else high)
                )
            return offsets
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[RawRecord]], bool],
    timeout_s: float,
    from_beginning: bool = True,
) -> list[RawRecord]:
    """Records of every partition, from the start (or the end), until ``done``.

    Stops as soon as ``done(records)`` is true; returns what it has at the deadline.
    """
    consumer = _consumer(bootstrap)
    deadline = time.monotonic() + timeout_s
    try:
        consumer.assign(_start_offsets(consumer, topic, from_beginning, deadline))

        records: list[RawRecord] = []
        while time.monotonic() < deadline and not done(records):
            for message in consumer.consume(num_messages=500, timeout=0.2):
                if message.error() is None:
                    records.append(_decode(message))
        return records
    finally:
        consumer.close()
