"""Kafka Connect sink throughput and errors, from Kafka alone.

A sink's records per second is the growth of its consumer group's committed
offsets (Connect names the group ``connect-<connector>``); its errors are the
records it sent to the sink dead-letter topic, counted by the connector name
Connect writes in each record's headers. Both are read incrementally, so each
call costs one offsets lookup and the new DLQ records only.
"""

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from metricpipe.lag.offsets import GroupLag

log = logging.getLogger(__name__)

CONNECT_GROUP_PREFIX = "connect-"
CONNECTOR_HEADER = "__connect.errors.connector.name"


class SinkMeter:
    def __init__(
        self,
        bootstrap: str,
        dlq_topic: str,
        client_config: dict[str, str] | None = None,
    ) -> None:
        self._dlq_topic = dlq_topic
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                **(client_config or {}),
                "group.id": f"metricpipe-sinkmeter-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "log_level": 0,
            }
        )
        self._assigned = False
        self._previous: dict[str, tuple[float, int]] = {}

    def rows(self, groups: list[GroupLag]) -> list[dict[str, object]]:
        """One row per sink connector: records_per_s (after two calls), errors."""
        errors = self._new_errors()
        now = time.monotonic()
        rows: list[dict[str, object]] = []
        for group in groups:
            if not group.group.startswith(CONNECT_GROUP_PREFIX):
                continue
            connector = group.group[len(CONNECT_GROUP_PREFIX) :]
            committed = sum(p.committed or 0 for p in group.partitions)
            row: dict[str, object] = {
                "connector": connector,
                "committed": committed,
                "errors": errors.get(connector, 0),
            }
            previous = self._previous.get(connector)
            if previous is not None and now > previous[0] and committed >= previous[1]:
                row["records_per_s"] = round(
                    (committed - previous[1]) / (now - previous[0]), 3
                )
            self._previous[connector] = (now, committed)
            rows.append(row)
        return rows

    def _new_errors(self) -> dict[str, int]:
        """Sink DLQ records since the last call, by connector name."""
        counts: dict[str, int] = {}
        try:
            if not self._assigned:
                topic = self._consumer.list_topics(self._dlq_topic, timeout=5)
                partitions = topic.topics[self._dlq_topic].partitions
                self._consumer.assign(
                    [TopicPartition(self._dlq_topic, p, 0) for p in partitions]
                )
                self._assigned = True
            while True:
                message = self._consumer.poll(0.2)
                if message is None:
                    break
                if message.error():
                    continue
                headers = dict(message.headers() or [])
                name = headers.get(CONNECTOR_HEADER, b"unknown") or b"unknown"
                key = name.decode(errors="replace")
                counts[key] = counts.get(key, 0) + 1
        except KafkaException as exc:
            log.warning("Could not read the sink DLQ %s: %s", self._dlq_topic, exc)
        return counts
