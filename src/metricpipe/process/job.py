"""The streaming job: ``python -m metricpipe.process.job --config ... --workspace ...``.

Starts one Spark session with these queries, all reading ``metrics.raw``:

* ``dlq``: rejected records and fields to ``metrics.dlq`` (append);
* ``rollup``: statistics of every window size to ``metrics.rollup`` (update);
* ``alerts``: EWMA anomaly alerts to ``metrics.alerts`` (append).

Each query has its own checkpoint under ``data/spark/checkpoints/v<N>/``. The
supervisor runs this module as service ``spark``; the same module can run against
a cluster by setting ``process.master``.
"""

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from metricpipe.config import Config, load_config
from metricpipe.errors import MetricpipeError
from metricpipe.paths import Workspace
from metricpipe.process import anomaly, runtime, transform
from metricpipe.process.listener import PipelineListener, write_json_atomic

log = logging.getLogger(__name__)

#: The one rollup query, for every size in process.window_s.
ROLLUP_QUERY = "rollup"

#: Spark error classes and phrases that mean the checkpoint does not fit the job.
CHECKPOINT_HINTS = (
    "STATE_STORE_",
    "STATEFUL_OPERATOR",
    "state schema",
    "checkpoint",
    "INCOMPATIBLE",
)


def status_file(workspace: Workspace) -> Path:
    return workspace.data_of("spark") / "status.json"


def metrics_file(workspace: Workspace) -> Path:
    return workspace.data_of("spark") / "metrics.json"


def watermark_s(config: Config) -> float:
    """Configured, or Telegraf's interval + flush interval + slack."""
    process = config.process
    if process.watermark_s is not None:
        return process.watermark_s
    collect = config.collect
    return collect.interval_s + collect.flush_interval_s + process.watermark_slack_s


def raw_stream(spark: SparkSession, config: Config) -> DataFrame:
    process = config.process
    return (
        spark.readStream.format("kafka")
        .options(**runtime.kafka_options(config))
        .option("subscribe", config.kafka.topics.raw.name)
        .option("startingOffsets", process.starting_offsets)
        # Deliberate: retention deleting unread metrics is reported (Spark logs
        # the gap as a warning) but does not stop the pipeline, unless asked.
        .option("failOnDataLoss", str(process.fail_on_data_loss).lower())
        .option("maxOffsetsPerTrigger", str(process.max_offsets_per_trigger))
        .load()
    )


def _exploded(spark: SparkSession, config: Config) -> DataFrame:
    settings = transform.ParseSettings.from_config(config.process)
    records = transform.parse_records(raw_stream(spark, config), settings)
    return transform.explode_fields(records, settings)


def start_queries(
    spark: SparkSession, config: Config, workspace: Workspace
) -> dict[str, Callable[[], Any]]:
    """A starter per query, by name, so that one query can be started again."""
    process = config.process
    topics = config.kafka.topics
    checkpoints = runtime.checkpoint_root(config, workspace)
    trigger = f"{process.trigger_s} seconds"

    def sink(
        df: DataFrame, name: str, topic: str, mode: str
    ) -> tuple[str, Callable[[], Any]]:
        return name, lambda: (
            df.writeStream.queryName(name)
            .format("kafka")
            .options(**runtime.kafka_options(config))
            .option("topic", topic)
            .option("checkpointLocation", str(checkpoints / name))
            .outputMode(mode)
            .trigger(processingTime=trigger)
            .start()
        )

    queries: list[tuple[str, Callable[[], Any]]] = []

    # DLQ: every rejection kind counted through observe(), in the JVM.
    exploded = _exploded(spark, config).observe(
        "dlq",
        *[F.count_if(F.col("reason") == r).alias(r) for r in transform.DLQ_REASONS],
    )
    queries.append(
        sink(
            transform.dlq_kafka(
                transform.dlq_rows(exploded), process.max_message_bytes
            ),
            "dlq",
            topics.dlq.name,
            "append",
        )
    )

    # One query for every window size: the raw topic is read and parsed once
    # for all of them, and one state store holds every window's state.
    wm = watermark_s(config)
    rollups = transform.rollup_from_raw(
        raw_stream(spark, config),
        transform.ParseSettings.from_config(process),
        process.window_s,
        wm,
        dedup=process.dedup_enabled,
        count_fields=True,
    )
    queries.append(
        sink(
            transform.rollup_kafka(rollups), ROLLUP_QUERY, topics.rollup.name, "update"
        )
    )

    if process.anomaly_enabled:
        settings = anomaly.AnomalySettings(
            alpha=process.anomaly_alpha,
            threshold=process.anomaly_threshold,
            min_points=process.anomaly_min_points,
            idle_timeout_s=process.anomaly_idle_timeout_s,
            window_s=min(process.window_s),
            measurements=tuple(process.anomaly_measurements),
        )
        points = transform.numeric_points(_exploded(spark, config))
        alerts = anomaly.detect_anomalies(points, settings, wm)
        queries.append(
            sink(anomaly.alerts_kafka(alerts), "alerts", topics.alerts.name, "append")
        )
    return dict(queries)


#: How often one query may be restarted in-process for Spark's known bug, and
#: over how long a span, before the job exits and the supervisor takes over.
BUG_RESTARTS = 3
BUG_RESTART_SPAN_S = 600.0


def _is_progress_metrics_bug(error: BaseException) -> bool:
    """Spark 4.1.1's NullPointerException in KafkaMicroBatchStream.metrics.

    After a crash, the first batch a query re-runs from its offset log fails while
    reporting progress (apache/spark SPARK-57438, fixed upstream after 4.1.1). The
    batch itself has been written and committed by then, so starting the same
    query again goes on normally. Restarting the whole job instead would interrupt
    the other queries mid-batch and give each of them the same failure in turn.
    """
    text = str(error)
    return "scala.Option.get()" in text and "IterableOps.map" in text


def query_names(config: Config) -> list[str]:
    names = ["dlq", ROLLUP_QUERY]
    return [*names, "alerts"] if config.process.anomaly_enabled else names


def _explain_failure(exc: BaseException, config: Config, workspace: Workspace) -> str:
    text = str(exc)
    if any(hint.lower() in text.lower() for hint in CHECKPOINT_HINTS):
        root = runtime.checkpoint_root(config, workspace)
        return (
            f"{text.splitlines()[0]}\nThe checkpoint in {root} does not fit this job. "
            f"Way out: set process.checkpoint_version = "
            f"{config.process.checkpoint_version + 1} (a fresh checkpoint that reads "
            f"from process.starting_offsets), or run the job version that wrote it."
        )
    return text.splitlines()[0] if text else repr(exc)


def run(config: Config, workspace: Workspace) -> int:
    # Python workers (the anomaly detector) must run this interpreter, and Spark
    # must stay on loopback.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    jars = runtime.connector_jars()
    runtime.check_checkpoint(config, workspace)
    status = status_file(workspace)
    status.unlink(missing_ok=True)

    builder = SparkSession.builder
    for key, value in runtime.spark_conf(config, workspace, jars).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info(
        "Spark %s, connector jars %s", spark.version, ", ".join(j.name for j in jars)
    )

    listener = PipelineListener(
        bootstrap=config.kafka.bootstrap,
        group=config.process.consumer_group,
        metrics_topic=config.kafka.topics.pipeline.name,
        metrics_file=metrics_file(workspace),
        late_query=ROLLUP_QUERY,
        client_config=config.kafka.librdkafka(),
    )
    spark.streams.addListener(listener)

    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        log.info("Signal %d: stopping the queries", signum)
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    code = 0
    try:
        starters = start_queries(spark, config, workspace)
        running = {name: start() for name, start in starters.items()}
        bug_restarts: dict[str, list[float]] = {name: [] for name in running}
        queries = list(running.values())
        write_json_atomic(
            status,
            {
                "pid": os.getpid(),
                "state": "running",
                "started_at": time.time(),
                "spark_version": spark.version,
                "app_id": spark.sparkContext.applicationId,
                "queries": {q.name: str(q.id) for q in queries},
            },
        )

        while not stopping:
            failed = [q for q in running.values() if not q.isActive]
            if failed:
                error = failed[0].exception()
                name = failed[0].name
                now = time.monotonic()
                recent = [t for t in bug_restarts[name] if now - t < BUG_RESTART_SPAN_S]
                if (
                    error is not None
                    and _is_progress_metrics_bug(error)
                    and len(recent) < BUG_RESTARTS
                ):
                    log.warning(
                        "Query %s hit Spark 4.1.1's progress-metrics bug "
                        "(SPARK-57438) after a restart; its batch is committed, "
                        "starting it again (%d of %d)",
                        name,
                        len(recent) + 1,
                        BUG_RESTARTS,
                    )
                    bug_restarts[name] = [*recent, now]
                    running[name] = starters[name]()
                    spark.streams.resetTerminated()
                    continue
                log.error(
                    "Query %s stopped: %s",
                    name,
                    _explain_failure(error, config, workspace) if error else "no error",
                )
                code = 1
                break
            # A failed query raises here; it is handled on the next pass, above.
            with contextlib.suppress(StreamingQueryException):
                spark.streams.awaitAnyTermination(1)
            spark.streams.resetTerminated()
    except Exception as exc:
        log.error(
            "The streaming job failed: %s", _explain_failure(exc, config, workspace)
        )
        code = 1
    finally:
        status.unlink(missing_ok=True)
        for query in spark.streams.active:
            query.stop()
        listener.close()
        spark.stop()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metricpipe.process.job")
    parser.add_argument("--config", help="metricpipe.toml")
    parser.add_argument("--workspace", help="the pipeline's workspace folder")
    args = parser.parse_args(argv)

    # An entry point: logging is configured here, never in the library modules.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config)
        return run(config, Workspace.resolve(args.workspace))
    except MetricpipeError as exc:
        log.error("%s", exc)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
