"""A small local SparkSession shared by the process tests."""

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    # Spark must never pick another interface than loopback.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    # Python workers (pandas state functions) must use this interpreter.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("metricpipe-process-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", str(tmp_path_factory.mktemp("spark-local")))
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


class FileStream:
    """Feeds raw records to a real streaming query through a file source.

    pyspark has no MemoryStream; JSON files in a folder, read as a stream with
    the Kafka source's ``value``/``partition``/``offset`` columns, drive the same
    transformation functions the job uses, one micro-batch per ``push``.
    """

    def __init__(self, spark: SparkSession, root: Path) -> None:
        self.spark = spark
        self.inbox = root / "inbox"
        self.inbox.mkdir(parents=True)
        self.checkpoint = root / "checkpoint"
        self.offset = 0
        self.files = 0
        self.batches: list[list[Row]] = []

    def source(self) -> DataFrame:
        stream = (
            self.spark.readStream.schema("offset long, payload string")
            .option("maxFilesPerTrigger", 1)
            .json(str(self.inbox))
        )
        return stream.select(
            F.col("payload").cast("binary").alias("value"),
            F.lit(0).alias("partition"),
            F.col("offset"),
        )

    def start(self, result: DataFrame, mode: str) -> StreamingQuery:
        def collect(batch: DataFrame, _batch_id: int) -> None:
            self.batches.append(batch.collect())

        return (
            result.writeStream.outputMode(mode)
            .option("checkpointLocation", str(self.checkpoint))
            .foreachBatch(collect)
            .start()
        )

    def write(self, payloads: list[str]) -> None:
        """Add one file of records (one micro-batch, as maxFilesPerTrigger is 1)."""
        lines = []
        for payload in payloads:
            lines.append(json.dumps({"offset": self.offset, "payload": payload}))
            self.offset += 1
        tmp = self.inbox / f".{self.files:04d}.tmp"
        tmp.write_text("\n".join(lines) + "\n")
        tmp.rename(self.inbox / f"{self.files:04d}.json")
        self.files += 1

    def push(self, query: StreamingQuery, payloads: list[str]) -> None:
        self.write(payloads)
        query.processAllAvailable()

    def run_available(self, result: DataFrame, mode: str) -> None:
        """Process what is there with an availableNow query, then stop.

        For processing-time timeouts, where Spark keeps running no-data batches
        and processAllAvailable never settles. The checkpoint keeps the state.
        """

        def collect(batch: DataFrame, _batch_id: int) -> None:
            self.batches.append(batch.collect())

        query = (
            result.writeStream.outputMode(mode)
            .option("checkpointLocation", str(self.checkpoint))
            .foreachBatch(collect)
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(120)
        if query.isActive:
            query.stop()
            raise AssertionError("the availableNow query did not finish in 120 s")


@pytest.fixture
def file_stream(spark: SparkSession, tmp_path: Path) -> FileStream:
    return FileStream(spark, tmp_path)
