"""The job under the real supervisor against a real broker: exact output on the
topics, DLQ reasons, a SIGKILL mid-stream and the lag-monitoring offsets."""

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from metricpipe.testing import TestPipeline, running_pipeline

pytestmark = pytest.mark.integration

DEADLINE_S = 180


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPipeline]:
    overrides = {
        "process": {"master": "local[2]", "trigger_s": 1.0},
        "supervisor": {"restart_backoff_s": 1.0},
    }
    root: Path = tmp_path_factory.mktemp("spark")
    with running_pipeline(root, ["kafka", "spark"], overrides) as running:
        yield running


def produce(bootstrap: str, records: list[tuple[str, str]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        producer.produce("metrics.raw", key=key, value=value)
    assert producer.flush(30) == 0


class TopicReader:
    """Keeps the latest value of every key seen on a topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-{topic}-{time.time()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
        self.latest: dict[str, dict[str, Any]] = {}

    def until(self, done: Callable[[dict[str, dict[str, Any]]], bool]) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not done(self.latest):
            assert time.monotonic() < deadline, f"gave up waiting; saw {self.latest}"
            message = self.consumer.poll(1.0)
            if message is None or message.error():
                continue
            self.latest[message.key().decode()] = json.loads(message.value())


def metric(host: str, value: float, ts_ms: int, **extra: Any) -> tuple[str, str]:
    fields: dict[str, Any] = {"v": value, **extra}
    payload = {
        "name": "m",
        "tags": {"host": host},
        "fields": fields,
        "timestamp": ts_ms,
    }
    return host, json.dumps(payload)


def windows(t0: int, first: int, count: int) -> list[tuple[str, str]]:
    """Per window i: values i, i+1, i+2 for host a and 10x for host b."""
    records = []
    for i in range(first, first + count):
        for j in range(3):
            ts = t0 + i * 10_000 + j * 3000
            records.append(metric("a", i + j, ts))
            records.append(metric("b", 10 * (i + j), ts))
    return records


def rollups_by_window(latest: dict[str, dict[str, Any]]) -> dict[tuple[str, int], Any]:
    return {
        (r["series_key"], r["window_start"]): r
        for r in latest.values()
        if r["window_s"] == 10
    }


def test_rollups_dlq_restart_and_offsets(pipeline: TestPipeline) -> None:
    bootstrap = pipeline.config.kafka.bootstrap
    now = int(time.time() * 1000)
    t0 = now - now % 10_000 - 120_000

    bad = [
        ("x", "{not json"),
        ("x", json.dumps({"fields": {"v": 1}, "timestamp": now})),
        metric("a", 1, t0 + 1, big=2**64),
    ]
    produce(bootstrap, windows(t0, 0, 4) + bad)
    rollups = TopicReader(bootstrap, "metrics.rollup")
    dlq = TopicReader(bootstrap, "metrics.dlq")

    def complete(upto: int) -> Callable[[dict[str, dict[str, Any]]], bool]:
        def done(latest: dict[str, dict[str, Any]]) -> bool:
            got = rollups_by_window(latest)
            # Window 0 of host a also has the "1" beside the bad field: 4 points.
            counts = {k: r["count"] for k, r in got.items()}
            want = {
                (f"m,host={h} v", t0 + i * 10_000): 3 for h in "ab" for i in range(upto)
            }
            want[("m,host=a v", t0)] = 4
            return all(counts.get(k) == n for k, n in want.items())

        return done

    rollups.until(complete(4))
    got = rollups_by_window(rollups.latest)
    a1 = got[("m,host=a v", t0 + 10_000)]
    assert (a1["sum"], a1["min"], a1["max"], a1["last"], a1["p50"]) == (6, 1, 3, 3, 2)
    b2 = got[("m,host=b v", t0 + 20_000)]
    assert (b2["mean"], b2["last"]) == (30, 40)

    dlq.until(lambda latest: len(latest) >= 3)
    assert sorted(r["reason"] for r in dlq.latest.values()) == [
        "bad_json",
        "int_overflow",
        "missing_name",
    ]
    overflow = next(r for r in dlq.latest.values() if r["reason"] == "int_overflow")
    assert overflow["field"] == "big" and overflow["source_offset"] >= 0

    # Kill the job mid-stream; the supervisor must restart it from its checkpoint.
    keys_before = set(rollups.latest)
    produce(bootstrap, windows(t0, 4, 4))
    spark = pipeline.state().get("spark")
    assert spark.pid is not None
    os.kill(spark.pid, signal.SIGKILL)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        state = pipeline.state().get("spark")
        if state.restarts >= 1 and state.state == "ready" and state.pid != spark.pid:
            break
        assert time.monotonic() < deadline, f"spark was not restarted: {state}"
        time.sleep(1)

    rollups.until(complete(8))
    assert keys_before <= set(rollups.latest)
    got = rollups_by_window(rollups.latest)
    assert got[("m,host=b v", t0 + 70_000)]["sum"] == 10 * (7 + 8 + 9)

    # The lag-monitoring group has every raw record committed, eventually.
    produced = len(windows(t0, 0, 8)) + len(bad)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "metricpipe-spark"}
    )
    partitions = [TopicPartition("metrics.raw", p) for p in range(3)]
    deadline = time.monotonic() + DEADLINE_S
    while True:
        committed = consumer.committed(partitions, timeout=10)
        total = sum(max(tp.offset, 0) for tp in committed)
        if total == produced:
            break
        assert time.monotonic() < deadline, f"committed {committed}, want {produced}"
        time.sleep(1)
    consumer.close()

    # One SIGKILL costs one restart: Spark 4.1.1's progress-metrics bug after a
    # crash is absorbed inside the job, not by crash-looping the process.
    produce(bootstrap, windows(t0, 8, 2))
    rollups.until(complete(10))
    state = pipeline.state().get("spark")
    assert (state.state, state.restarts) == ("ready", 1), state
