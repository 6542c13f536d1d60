"""The hostile-input corpus, replayed through the real broker and Spark job.

Each case in ``process/corpus/v1/cases.json`` is a list of raw records and what
must come of them: exact rollups for the series it names, and the DLQ reasons of
the records the job must reject. The job must keep running through all of them.
"""

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from metricpipe.testing import TestPipeline, running_pipeline

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "v1" / "cases.json"
DEADLINE_S = 180


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPipeline]:
    overrides = {
        "process": {"master": "local[2]", "trigger_s": 1.0, "max_message_bytes": 4096}
    }
    root = tmp_path_factory.mktemp("corpus")
    with running_pipeline(root, ["kafka", "spark"], overrides) as running:
        yield running


def render(record: str, t_ms: int) -> str:
    return (
        record.replace("{T}", str(t_ms))
        .replace("{T1}", str(t_ms + 1))
        .replace("{T_OLD}", str(t_ms - 120_000))
        .replace("{T_S}", str(t_ms // 1000))
        .replace("{T_NS}", str(t_ms * 1_000_000))
        .replace("{PAD}", "x" * 8192)
    )


def drain(consumer: Consumer, seconds: float) -> list[Any]:
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            seen.append(message)
    return seen


def late_total(pipeline: TestPipeline) -> int:
    """The rollup query's late points since the job started (metrics.json)."""
    path = pipeline.workspace.data_of("spark") / "metrics.json"
    try:
        rollup = json.loads(path.read_text())["queries"].get("rollup", {})
    except (OSError, ValueError, KeyError):
        return 0
    return int(rollup.get("late_total_since_start", 0))


def test_every_corpus_case_has_its_expected_outcome(pipeline: TestPipeline) -> None:
    cases = json.loads(CORPUS.read_text())["cases"]
    bootstrap = pipeline.config.kafka.bootstrap
    now = int(time.time() * 1000)
    t_ms = now - now % 10_000 - 30_000  # inside a window that is already closed

    readers = {}
    for topic in ("metrics.rollup", "metrics.dlq"):
        reader = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"corpus-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
            }
        )
        reader.subscribe([topic])
        readers[topic] = reader

    # Where each record landed: the DLQ names a rejected record by that position.
    origin: dict[tuple[int, int], str] = {}

    def delivered(name: str) -> Any:
        def record(err: Any, message: Any) -> None:
            assert err is None, err
            origin[(message.partition(), message.offset())] = name

        return record

    producer = Producer({"bootstrap.servers": bootstrap})

    def send(part: str) -> None:
        for case in cases:
            for record in case.get(part, []):
                producer.produce(
                    "metrics.raw",
                    key=case["name"],
                    value=render(record, t_ms).encode(),
                    on_delivery=delivered(case["name"]),
                )
        assert producer.flush(30) == 0

    send("records")

    # Everything the job writes, until every expectation is met or time is up.
    rollups: dict[str, dict[str, Any]] = {}
    dlq: dict[tuple[int, int, str], dict[str, Any]] = {}
    wanted_rollups = {k: v for c in cases for k, v in c["expect"]["rollups"].items()}
    wanted_dlq = sum(len(c["expect"]["dlq"]) for c in cases)
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for message in drain(readers["metrics.rollup"], 2):
            row = json.loads(message.value())
            if row["window_start"] <= t_ms < row["window_end"]:
                rollups[row["series_key"]] = row
        for message in drain(readers["metrics.dlq"], 1):
            row = json.loads(message.value())
            position = (row["source_partition"], row["source_offset"])
            if position in origin:
                dlq[(*position, str(row.get("field")))] = row
        counted = all(
            rollups.get(k, {}).get("count") == v["count"]
            for k, v in wanted_rollups.items()
        )
        if counted and len(dlq) >= wanted_dlq:
            break

    # The rollups are out, so the watermark has passed {T}: now the late ones.
    late_before = late_total(pipeline)
    send("late_records")
    wanted_late = sum(c["expect"].get("late", 0) for c in cases)
    deadline = time.monotonic() + DEADLINE_S
    while late_total(pipeline) - late_before < wanted_late:
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    late = late_total(pipeline) - late_before
    for reader in readers.values():
        reader.close()

    by_case: dict[str, list[str]] = {c["name"]: [] for c in cases}
    for (partition, offset, _), row in dlq.items():
        by_case[origin[(partition, offset)]].append(row["reason"])
    problems = []
    for case in cases:
        if sorted(by_case[case["name"]]) != sorted(case["expect"]["dlq"]):
            problems.append(f"{case['name']}: DLQ {by_case[case['name']]}")
        for key, want in case["expect"]["rollups"].items():
            got = rollups.get(key)
            if got is None or any(got[stat] != value for stat, value in want.items()):
                problems.append(f"{case['name']}: rollup {key} = {got}")
    if late != wanted_late:
        problems.append(f"late points counted {late}, expected {wanted_late}")
    assert not problems, "\n".join(problems)

    state = pipeline.state().get("spark")
    assert (state.state, state.restarts) == ("ready", 0), "the job must keep running"
