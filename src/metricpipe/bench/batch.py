"""The batch ceiling: the job's own parse + rollup logic as a Spark batch job.

Run as a child process (``python -m metricpipe.bench.batch``) so its Spark driver
is separate from the bench and from the streaming job, and gone when it is done.
It prints one JSON object: messages read and the seconds of each timed pass.
"""

import argparse
import json
import os
import sys
import time

from pyspark.sql import DataFrame, SparkSession

from metricpipe.config import load_config
from metricpipe.process import runtime, transform
from metricpipe.process.config import ProcessConfig


def job_logic(
    raw: DataFrame, settings: transform.ParseSettings, process: ProcessConfig
) -> DataFrame:
    """The streaming job's rollup query, as one function over a Kafka frame: every
    window size in ``process.window_s`` and the job's duplicate filter.

    The one place the bench touches process/transform: when their signatures
    change, adapt here. No watermark: a batch sees all of its input at once.
    """
    return transform.rollup_from_raw(
        raw, settings, process.window_s, None, dedup=process.dedup_enabled
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metricpipe.bench.batch")
    parser.add_argument("--config", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--local-dir", required=True)
    args = parser.parse_args(argv)

    config = load_config(args.config, environ={})
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    jars = runtime.connector_jars()
    spark = (
        SparkSession.builder.master(config.process.master)
        .appName("metricpipe-bench-batch")
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.driver.memory", f"{config.process.driver_memory_mb}m")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.local.dir", args.local_dir)
        .config("spark.sql.shuffle.partitions", str(config.process.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    raw = (
        spark.read.format("kafka")
        .options(**runtime.kafka_options(config))
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
    )
    settings = transform.ParseSettings.from_config(config.process)
    messages = raw.count()
    rollups = job_logic(raw, settings, config.process)
    seconds = []
    # The first pass pays for JIT and class loading; the report uses the median
    # of the passes after it when there are any.
    for _ in range(args.passes):
        started = time.perf_counter()
        # noop writes every column: a count() would let the optimizer prune the
        # aggregates nobody reads.
        rollups.write.format("noop").mode("overwrite").save()
        seconds.append(time.perf_counter() - started)
    rows = rollups.count()
    spark.stop()
    print(json.dumps({"messages": messages, "rollup_rows": rows, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
