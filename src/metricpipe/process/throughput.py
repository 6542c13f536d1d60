"""Measure the streaming job's sustained rate on this machine (not a test).

``python -m metricpipe.process.throughput --messages 300000 --root /tmp/tp``
starts kafka + spark on free ports with ``metricpipe up --detach``, fills
``metrics.raw`` flat out with the load generator, and waits until the job's
lag-monitoring group (``process.consumer_group``, committed after every query
processed a batch) reaches the end of the topic. It prints, as JSON, the
messages/s from the first committed progress to the catch-up, and per query the
input rows, batch durations and Spark's ``durationMs`` phases read back from the
``metrics.pipeline`` topic. Speed figures belong here and in ``metricpipe
bench``, never in tests.
"""

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from metricpipe.bench.loadgen import LoadSpec, produce
from metricpipe.testing import TestPipeline, running_pipeline


def _committed(consumer: Consumer, topic: str, partitions: int) -> int:
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))


def _pipeline_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"throughput-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    reader.subscribe([topic])
    records: list[dict[str, Any]] = []
    idle = 0
    while idle < 5:
        message = reader.poll(1.0)
        if message is None or message.error():
            idle += 1
            continue
        idle = 0
        record = json.loads(message.value())
        if record.get("kind") == "spark_batch":
            records.append(record)
    reader.close()
    return records


def _per_query(records: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in sorted({r["query"] for r in records}):
        busy = [r for r in records if r["query"] == name and r["input_rows"] > 0]
        if not busy:
            continue
        phases: dict[str, list[int]] = {}
        for r in busy:
            for phase, ms in (r.get("duration_ms") or {}).items():
                phases.setdefault(phase, []).append(int(ms))
        summary[name] = {
            "batches": len(busy),
            "input_rows": sum(r["input_rows"] for r in busy),
            "batch_ms_median": statistics.median(r["batch_duration_ms"] for r in busy),
            "batch_ms_max": max(r["batch_duration_ms"] for r in busy),
            "processed_rows_per_s_median": round(
                statistics.median(r["processed_rows_per_s"] or 0 for r in busy), 1
            ),
            "phase_ms_median": {
                k: statistics.median(v) for k, v in sorted(phases.items())
            },
        }
    return summary


def measure(pipeline: TestPipeline, messages: int, hosts: int) -> dict[str, Any]:
    config = pipeline.config
    bootstrap = config.kafka.bootstrap
    raw = config.kafka.topics.raw
    spec = LoadSpec(hosts=hosts)
    # Event times start a little in the past and advance one step per series
    # round, so they stay well inside the skew limits.
    rounds = messages // spec.series_count() + 1
    start_ms = int(time.time() * 1000) - rounds * 1000
    group = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": config.process.consumer_group}
    )
    started = time.monotonic()
    loaded = produce(bootstrap, raw.name, spec, messages, None, start_ms)
    produced_s = time.monotonic() - started
    first_seen: float | None = None
    first_offset = 0
    deadline = started + 1800
    done = 0
    while time.monotonic() < deadline:
        done = _committed(group, raw.name, raw.partitions)
        if done > 0 and first_seen is None:
            first_seen, first_offset = time.monotonic(), done
        if done >= messages:
            break
        time.sleep(0.5)
    caught_up = time.monotonic()
    group.close()
    records = _pipeline_records(bootstrap, config.kafka.topics.pipeline.name)
    span = caught_up - (first_seen or caught_up)
    return {
        "messages": messages,
        "series": spec.series_count(),
        "produce_messages_per_s": round(loaded.rate, 1),
        "produce_s": round(produced_s, 1),
        "processed": done,
        "catch_up_s_from_start": round(caught_up - started, 1),
        "job_messages_per_s": round((done - first_offset) / span, 1) if span else None,
        "queries": _per_query(records),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metricpipe.process.throughput")
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--root", type=Path, required=True, help="an empty folder")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a process.* override, e.g. --set max_offsets_per_trigger=200000",
    )
    args = parser.parse_args(argv)
    process: dict[str, Any] = {"master": "local[2]"}
    for item in args.set:
        key, _, value = item.partition("=")
        process[key] = json.loads(value)
    args.root.mkdir(parents=True, exist_ok=True)
    with running_pipeline(args.root, ["kafka", "spark"], {"process": process}) as p:
        result = measure(p, args.messages, args.hosts)
    result["process_overrides"] = process
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
