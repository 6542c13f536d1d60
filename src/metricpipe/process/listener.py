"""After each micro-batch: commit offsets for lag monitoring, publish self-metrics.

Spark's Kafka source keeps its position in the checkpoint, not in Kafka, so lag
tools (Burrow) would see nothing. This listener commits every source partition's
end offset to ``process.consumer_group`` with a plain consumer that never
subscribes and never reads its commits back: the checkpoint stays the one truth.
A partition is committed at the smallest end offset over the job's queries
that reported since the job started, so lag means "not yet processed by every
query". A failed commit is logged and the
next batch retries; it never stops a query.

It also counts what never reached the rollups: ``late_points`` (points behind the
watermark, dropped by the rollup query's first stateful operator) and
``data_loss_messages`` (raw records that Kafka's retention deleted before a query
read them, see :func:`skipped_records`). The latter is cumulative over restarts:
it is persisted in ``metrics.json``, since the loss typically happens while the
job is stopped.
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


def skipped_records(start: str | None, end: str | None, input_rows: int) -> int:
    """Raw records a batch's offset range held but the query never read.

    ``start`` and ``end`` are the source's offsets JSON. Spark keeps a batch's
    range [start, end) even when retention deleted its beginning; with
    failOnDataLoss=false it reads from the earliest offset still there. On a
    topic without compaction or transactions every offset is one record, so the
    gap is the range's size minus the rows read. A partition new in ``end`` is
    read from its earliest offset, so it is left out (its gap is not seen, and
    since its rows are in ``input_rows``, a loss in the same batch is undercounted
    by them), and the first batch of a fresh checkpoint has no start: 0.
    """
    try:
        begin, finish = json.loads(start or "{}"), json.loads(end or "{}")
    except ValueError:
        # PySpark hands the first batch's missing start over as the text "None"
        # (str() of a Java null), which is no offsets JSON: nothing to compare.
        return 0
    if not isinstance(begin, dict) or not isinstance(finish, dict):
        return 0
    span = 0
    for topic, partitions in finish.items():
        known = begin.get(topic, {})
        for partition, offset in partitions.items():
            if partition in known:
                span += int(offset) - int(known[partition])
    return max(0, span - input_rows)


def read_data_loss(path: Path) -> dict[str, Any]:
    """The persisted data-loss counters of a previous run (empty if none)."""
    try:
        saved = json.loads(path.read_text()).get("data_loss", {})
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


class PipelineListener(StreamingQueryListener):
    """Offsets commit and self-metrics, once per query progress."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        metrics_topic: str,
        metrics_file: Path,
        late_query: str = "rollup",
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
        #: The query whose watermark drops are the points the stores miss.
        self.late_query = late_query
        self._late_total = 0
        saved = read_data_loss(metrics_file)
        #: Cumulative records skipped per query name, and per query id (it is
        #: kept in the checkpoint) the last batch counted, so a batch is never
        #: counted twice across restarts.
        self._loss: dict[str, int] = {
            str(k): int(v) for k, v in saved.get("by_query", {}).items()
        }
        self._loss_batches: dict[str, int] = {
            str(k): int(v) for k, v in saved.get("last_batch", {}).items()
        }
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
        skipped = self._count_loss(name, progress)
        record = self._metrics_record(name, progress, observed)
        with self._lock:
            if ends:
                self._ends[name] = ends
            self._latest[name] = record
        if skipped:
            log.warning(
                "Query %s: %d raw records were deleted by retention before it "
                "read them (batch %d); %d in all. Raise the raw topic's "
                "retention or keep the job running (process.fail_on_data_loss).",
                name,
                skipped,
                progress.batchId,
                record["data_loss_messages"],
            )

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

    def _count_loss(self, name: str, progress: Any) -> int:
        skipped = sum(
            skipped_records(s.startOffset, s.endOffset, int(s.numInputRows))
            for s in progress.sources
        )
        query_id = str(progress.id)
        with self._lock:
            if progress.batchId <= self._loss_batches.get(query_id, -1):
                return 0  # counted before the job restarted
            self._loss_batches[query_id] = progress.batchId
            self._loss[name] = self._loss.get(name, 0) + skipped
        return skipped

    def data_loss(self) -> dict[str, Any]:
        """The persisted counters: total, per query, last batch per query id."""
        with self._lock:
            return {
                # Every query reads all of metrics.raw: the one that lagged
                # most lost most, and that is what the pipeline lost.
                "data_loss_messages": max(self._loss.values(), default=0),
                "by_query": dict(self._loss),
                "last_batch": dict(self._loss_batches),
            }

    def _metrics_record(
        self, name: str, progress: Any, observed: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        dlq_batch = {r: int(observed.get("dlq", {}).get(r) or 0) for r in DLQ_REASONS}
        with self._lock:
            for reason, count in dlq_batch.items():
                self._dlq_totals[reason] += count
            totals = dict(self._dlq_totals)
        fields = observed.get("fields", {})
        dropped = sum(op.numRowsDroppedByWatermark for op in progress.stateOperators)
        late: dict[str, int] = {}
        if name == self.late_query:
            with self._lock:
                self._late_total += dropped
                late = {
                    "late_points": dropped,
                    "late_total_since_start": self._late_total,
                }
        loss = self.data_loss()
        return {
            "kind": "spark_batch",
            "ts_ms": int(time.time() * 1000),
            "query": name,
            "batch_id": progress.batchId,
            "input_rows": progress.numInputRows,
            "input_rows_per_s": progress.inputRowsPerSecond,
            "processed_rows_per_s": progress.processedRowsPerSecond,
            "batch_duration_ms": progress.batchDuration,
            # Spark's own split of the batch (addBatch, getBatch, latestOffset,
            # queryPlanning, walCommit, commitOffsets, triggerExecution).
            "duration_ms": dict(progress.durationMs or {}),
            "state_rows": sum(op.numRowsTotal for op in progress.stateOperators),
            "rows_dropped_by_watermark": dropped,
            **late,
            "data_loss_messages": loss["data_loss_messages"],
            "data_loss_messages_of_query": loss["by_query"].get(name, 0),
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
            write_json_atomic(
                self.metrics_file, {"queries": latest, "data_loss": self.data_loss()}
            )
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
