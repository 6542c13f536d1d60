"""After each micro-batch: commit offsets for lag monitoring, publish self-metrics.

Spark's Kafka source keeps its position in the checkpoint, not in Kafka, so lag
tools (Burrow) would see nothing. This listener commits every source partition's
end offset to ``process.consumer_group`` with a plain consumer that never
subscribes and never reads its commits back: the checkpoint stays the one truth.
A partition is committed at the smallest end offset over the job's queries
that reported since the job started, so lag means "not yet processed by every
query". A failed commit is logged and the
next batch retries; it never stops a query.
"""

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from pyspark.sql.streaming.listener import StreamingQueryListener

from metricpipe.process.transform import DLQ_REASONS

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, default=str)
    os.replace(tmp, path)


def min_offsets(
    per_query: dict[str, dict[str, dict[str, int]]],
) -> dict[tuple[str, int], int]:
    """Smallest end offset of each (topic, partition) over all queries."""
    merged: dict[tuple[str, int], int] = {}
    for offsets in per_query.values():
        for topic, partitions in offsets.items():
            for partition, offset in partitions.items():
                key = (topic, int(partition))
                merged[key] = min(offset, merged.get(key, offset))
    return merged


class PipelineListener(StreamingQueryListener):
    """Offsets commit and self-metrics, once per query progress."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        metrics_topic: str,
        metrics_file: Path,
        client_config: dict[str, str] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        # Security settings (kafka.security_protocol) from KafkaConfig.librdkafka.
        self.client_config = {"bootstrap.servers": bootstrap, **(client_config or {})}
        self.group = group
        self.metrics_topic = metrics_topic
        self.metrics_file = metrics_file
        self._lock = threading.Lock()
        self._ends: dict[str, dict[str, dict[str, int]]] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._dlq_totals = dict.fromkeys(DLQ_REASONS, 0)
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self.commit_failures = 0

    # --- Kafka clients, created lazily so a broker hiccup never fails startup ---

    def _get_consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                {
                    **self.client_config,
                    "group.id": self.group,
                    "enable.auto.commit": False,
                    "socket.timeout.ms": 5000,
                    "log_level": 3,
                }
            )
        return self._consumer

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                {**self.client_config, "linger.ms": 50, "log_level": 3}
            )
        return self._producer

    def commit(self) -> bool:
        """Commit the merged end offsets of the queries that reported so far.

        After a restart a caught-up query may not report until new data comes,
        so waiting for all of them would commit nothing; a lagging query reports
        as soon as its first batch ends and pulls the commit back down.
        """
        with self._lock:
            if not self._ends:
                return False
            merged = min_offsets(self._ends)
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(merged.items())]
        try:
            result = self._get_consumer().commit(offsets=offsets, asynchronous=False)
            failed = [tp for tp in result or [] if tp.error is not None]
            if failed:
                raise KafkaException(failed[0].error)
        except (KafkaException, RuntimeError) as exc:
            self.commit_failures += 1
            log.warning(
                "Offset commit to %s failed, retried next batch: %s", self.group, exc
            )
            return False
        return True

    # --- StreamingQueryListener ---

    def onQueryStarted(self, event: Any) -> None:
        log.info("Query %s started (id %s)", event.name, event.id)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        if event.exception:
            log.error("Query %s terminated: %s", event.id, event.exception)

    def onQueryProgress(self, event: Any) -> None:
        try:
            self._on_progress(event.progress)
        except Exception:  # a listener error must never reach the query
            log.exception("Listener failed on a progress event")

    def _on_progress(self, progress: Any) -> None:
        name = progress.name or str(progress.id)
        ends: dict[str, dict[str, int]] = {}
        for source in progress.sources:
            if source.endOffset:
                for topic, partitions in json.loads(source.endOffset).items():
                    ends.setdefault(topic, {}).update(
                        {str(p): int(o) for p, o in partitions.items()}
                    )

        observed = {
            key: row.asDict() for key, row in (progress.observedMetrics or {}).items()
        }
        record = self._metrics_record(name, progress, observed)
        with self._lock:
            if ends:
                self._ends[name] = ends
            self._latest[name] = record

        self.commit()
        self._publish(record)
        if "dlq" in observed:
            # One record per reason as well, so a dashboard can chart the DLQ
            # rate by reason from one measurement with a `reason` tag.
            for reason in DLQ_REASONS:
                self._publish(
                    {
                        "kind": "dlq",
                        "ts_ms": record["ts_ms"],
                        "query": name,
                        "reason": reason,
                        "count": record["dlq_batch"].get(reason, 0),
                        "total": record["dlq_total_since_start"][reason],
                    },
                    snapshot=False,
                )

    def _metrics_record(
        self, name: str, progress: Any, observed: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        dlq_batch = {r: int(observed.get("dlq", {}).get(r) or 0) for r in DLQ_REASONS}
        with self._lock:
            for reason, count in dlq_batch.items():
                self._dlq_totals[reason] += count
            totals = dict(self._dlq_totals)
        fields = observed.get("fields", {})
        return {
            "kind": "spark_batch",
            "ts_ms": int(time.time() * 1000),
            "query": name,
            "batch_id": progress.batchId,
            "input_rows": progress.numInputRows,
            "input_rows_per_s": progress.inputRowsPerSecond,
            "processed_rows_per_s": progress.processedRowsPerSecond,
            "batch_duration_ms": progress.batchDuration,
            "state_rows": sum(op.numRowsTotal for op in progress.stateOperators),
            "rows_dropped_by_watermark": sum(
                op.numRowsDroppedByWatermark for op in progress.stateOperators
            ),
            "dlq_batch": dlq_batch if "dlq" in observed else {},
            "dlq_total_since_start": totals,
            "numeric_fields": int(fields.get("numeric") or 0),
            "string_fields": int(fields.get("string") or 0),
            "other_fields": int(fields.get("other") or 0),
            "offset_commit_failures": self.commit_failures,
        }

    def _publish(self, record: dict[str, Any], snapshot: bool = True) -> None:
        if snapshot:
            with self._lock:
                latest = dict(self._latest)
            write_json_atomic(self.metrics_file, {"queries": latest})
        try:
            producer = self._get_producer()
            producer.produce(
                self.metrics_topic,
                key=record.get("reason") or record["query"],
                value=json.dumps(record),
            )
            producer.poll(0)
        except (KafkaException, BufferError) as exc:
            log.warning(
                "Could not publish self-metrics to %s: %s", self.metrics_topic, exc
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
        if self._consumer is not None:
            self._consumer.close()
