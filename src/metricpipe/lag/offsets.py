"""Consumer lag from Kafka itself: offsets behind, and how old that backlog is.

This reads what every consumer group has committed and each partition's end offset
through Kafka's admin API. Lag in seconds is the age of the oldest record the group
has not yet consumed (the record at its committed offset), the measure
kafka-lag-exporter made popular; when that record is gone (retention), it falls
back to offsets behind divided by the partition's recent produce rate. A partition
with no committed offset has unknown lag, never "the whole log".

These are numbers, not verdicts: Burrow's OK/WARN/ERR/STOP/STALL evaluation is the
lag stage's job once Burrow can be provisioned (see lag/README.md).
"""

import logging
import time
import uuid
from dataclasses import asdict, dataclass, field

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int | None
    lag_s: float | None


@dataclass
class GroupLag:
    group: str
    state: str
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions if p.lag is not None)

    @property
    def unknown_partitions(self) -> int:
        return sum(1 for p in self.partitions if p.lag is None)

    @property
    def worst(self) -> PartitionLag | None:
        known = [p for p in self.partitions if p.lag is not None]
        return max(known, key=lambda p: (p.lag_s or 0.0, p.lag or 0), default=None)

    @property
    def lag_s(self) -> float | None:
        ages = [p.lag_s for p in self.partitions if p.lag_s is not None]
        return max(ages) if ages else None

    def as_dict(self) -> dict[str, object]:
        worst = self.worst
        return {
            "group": self.group,
            "state": self.state,
            "total_lag": self.total_lag,
            "lag_s": self.lag_s,
            "unknown_partitions": self.unknown_partitions,
            "worst_partition": None
            if worst is None
            else f"{worst.topic}[{worst.partition}]",
            "partitions": [asdict(p) for p in self.partitions],
        }


#: Verdict names, best first; a verdict's code is its index (Burrow's order).
STATUSES = ("OK", "WARN", "ERR", "STOP", "STALL")


def threshold_status(lag_s: float | None, warn_s: float, error_s: float) -> str:
    """OK/WARN/ERR from seconds behind; UNKNOWN when nothing was committed.

    A plain threshold on the backlog's age: unlike Burrow it does not look at the
    trend of commits, so a stopped consumer with no backlog stays OK.
    """
    if lag_s is None:
        return "UNKNOWN"
    if lag_s > error_s:
        return "ERR"
    return "WARN" if lag_s > warn_s else "OK"


def telegraf_rows(
    groups: list["GroupLag"], warn_s: float, error_s: float
) -> list[dict[str, object]]:
    """One flat JSON object per group, the shape Telegraf's JSON parser reads."""
    rows: list[dict[str, object]] = []
    for group in groups:
        status = threshold_status(group.lag_s, warn_s, error_s)
        row: dict[str, object] = {
            "group": group.group,
            "lag": group.total_lag,
            "unknown_partitions": group.unknown_partitions,
            "status": status,
            "status_code": STATUSES.index(status) if status in STATUSES else -1,
        }
        if group.lag_s is not None:
            row["lag_s"] = round(group.lag_s, 3)
        rows.append(row)
    return rows


class LagReader:
    """Reads lag of every consumer group of one cluster; keeps rate samples."""

    def __init__(self, bootstrap: str, client_config: dict[str, str] | None = None):
        self._base = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self._admin = AdminClient({**self._base, "log_level": 0})
        # (topic, partition) -> (monotonic time, end offset) of the last sample.
        self._samples: dict[tuple[str, int], tuple[float, int]] = {}
        self._rates: dict[tuple[str, int], float] = {}

    def groups(self) -> list[tuple[str, str]]:
        # An unreachable cluster must be an error, not an empty list of groups.
        self._admin.list_topics(timeout=TIMEOUT_S)
        result = self._admin.list_consumer_groups(request_timeout=TIMEOUT_S).result()
        return sorted(
            (g.group_id, str(g.state).rsplit(".", 1)[-1]) for g in result.valid
        )

    def read(self, only: list[str] | None = None) -> list[GroupLag]:
        lags = []
        for group, state in self.groups():
            if only and group not in only:
                continue
            try:
                lags.append(self._group(group, state))
            except KafkaException as exc:
                log.warning("Could not read lag of group %s: %s", group, exc)
        return lags

    def _group(self, group: str, state: str) -> GroupLag:
        request = [ConsumerGroupTopicPartitions(group)]
        future = self._admin.list_consumer_group_offsets(request)[group]
        committed = future.result().topic_partitions or []
        if not committed:
            return GroupLag(group, state)

        # Every partition of every topic the group touched, committed or not.
        topics = sorted({tp.topic for tp in committed})
        metadata = self._admin.list_topics(timeout=TIMEOUT_S).topics
        by_tp = {(tp.topic, tp.partition): tp.offset for tp in committed}
        wanted = [
            TopicPartition(topic, p)
            for topic in topics
            if topic in metadata
            for p in sorted(metadata[topic].partitions)
        ]
        ends = self._end_offsets(wanted)

        result = GroupLag(group, state)
        for tp in wanted:
            end = ends[(tp.topic, tp.partition)]
            offset = by_tp.get((tp.topic, tp.partition), OFFSET_INVALID)
            if offset is None or offset < 0:
                result.partitions.append(
                    PartitionLag(tp.topic, tp.partition, None, end, None, None)
                )
                continue
            lag = max(0, end - offset)
            age = self._age_s(tp.topic, tp.partition, offset, lag)
            result.partitions.append(
                PartitionLag(tp.topic, tp.partition, offset, end, lag, age)
            )
        return result

    def _end_offsets(
        self, partitions: list[TopicPartition]
    ) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}
        futures = self._admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in partitions}, request_timeout=TIMEOUT_S
        )
        now = time.monotonic()
        ends = {}
        for tp, future in futures.items():
            key = (tp.topic, tp.partition)
            end = future.result().offset
            ends[key] = end
            previous = self._samples.get(key)
            if previous is not None and now > previous[0] and end >= previous[1]:
                self._rates[key] = (end - previous[1]) / (now - previous[0])
            self._samples[key] = (now, end)
        return ends

    def _age_s(self, topic: str, partition: int, offset: int, lag: int) -> float | None:
        """Age of the oldest unconsumed record, or an estimate from the rate."""
        if lag == 0:
            return 0.0

        timestamp_ms = self._record_timestamp_ms(topic, partition, offset)
        if timestamp_ms is not None:
            return max(0.0, time.time() - timestamp_ms / 1000)

        rate = self._rates.get((topic, partition))
        return lag / rate if rate else None

    def _record_timestamp_ms(
        self, topic: str, partition: int, offset: int
    ) -> int | None:
        consumer = Consumer(
            {
                **self._base,
                # A throwaway group that never commits: reading for the timestamp
                # must not show up as a consumer of its own.
                "group.id": f"metricpipe-lag-probe-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        try:
            consumer.assign([TopicPartition(topic, partition, offset)])
            message = consumer.poll(2.0)
            if message is None or message.error():
                return None
            kind, timestamp = message.timestamp()
            return int(timestamp) if kind != 0 and timestamp > 0 else None
        finally:
            consumer.close()
