"""Read what Telegraf wrote to the raw topic, for the collection tests."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition


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
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        start = []
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
            start.append(
                TopicPartition(topic, partition, low if from_beginning else high)
            )
        consumer.assign(start)

        records: list[RawRecord] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done(records):
            for message in consumer.consume(num_messages=500, timeout=0.2):
                if message.error() is None:
                    records.append(_decode(message))
        return records
    finally:
        consumer.close()
