"""The fault matrix: kill -9 each service under load, then reconcile every store.

One full stack (``running_pipeline``, free ports) runs while a producer of our
own sends the loadgen's series at a steady rate, with event time = now. Each
service in turn is killed with SIGKILL on its whole process group, as a crash
would, and the supervisor brings it back. Every fault has its own host prefix,
so its series are its own: after the load stops and the pipeline drained, the
raw topic is read back and each fault's closed windows are reconciled against
OpenSearch and InfluxDB with ``metricpipe.verify.reconcile``.

The summary table goes to the terminal (rich) and to
``test-artifacts/fault-matrix[-soak].{json,md}``. Burrow is not part of the
stack (it cannot be provisioned here), so it is listed as such, not killed.
"""

import json
import logging
import os
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from metricpipe.bench.loadgen import SHAPES, LoadSpec, build_series, messages
from metricpipe.lag.offsets import LagReader
from metricpipe.process.job import watermark_s
from metricpipe.supervisor.config import DEFAULT_SERVICES
from metricpipe.testing import TestPipeline, running_pipeline
from metricpipe.verify.reconcile import (
    Expected,
    StoreReport,
    influxdb_rollups,
    opensearch_rollups,
    reconcile,
)

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts"

#: Kill order: the broker first, so every later fault starts from a stack that
#: already survived one.
#: Known shortcoming: the load is produced straight to metrics.raw, not through
#: Telegraf, so the Telegraf fault checks its restart and that the rest of the
#: pipeline is unharmed, not that Telegraf's own buffered metrics survive.
#: The dashboard is not killed (optional in the issue; time ran out).
FAULTS = ("kafka", "spark", "connect", "opensearch", "influxdb", "telegraf")
#: Lag (age of the oldest unconsumed record) under which a group is "normal".
LAG_NORMAL_S = 30.0
READY_TIMEOUT_S = 300.0
LAG_TIMEOUT_S = 300.0
DRAIN_TIMEOUT_S = 300.0
HOSTS = 3
# 3 hosts x 13 series every 500 ms: 78 records/s, ~220 points/s. A first run
# at 416 records/s outgrew the Spark job on this shared 2-core machine.
STEP_MS = 500


@dataclass
class Phase:
    service: str
    prefix: str
    round: int
    killed_pid: int | None = None
    killed_at: float | None = None
    ready_s: float | None = None
    lag_normal_s: float | None = None
    recovered: bool = False
    note: str = ""


class SteadyLoad(threading.Thread):
    """Produces every loadgen series each STEP_MS, under the current host prefix.

    Idempotent producer with a delivery timeout far longer than any outage here,
    so a broker killed with SIGKILL causes neither loss nor duplicates at the
    producer; any delivery error is counted and fails the test.
    """

    def __init__(self, bootstrap: str, topic: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.topic = topic
        self.spec = LoadSpec(hosts=HOSTS, seed=seed)
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "message.timeout.ms": 900_000,
                "linger.ms": 20,
                "log_level": 0,
            }
        )
        self.prefix = ""
        self.produced: dict[str, set[bytes]] = {}
        self.delivery_errors: list[str] = []
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def switch(self, prefix: str) -> None:
        with self._lock:
            self.prefix = prefix
            self.produced.setdefault(prefix, set())

    def _delivered(self, err: object, _msg: object) -> None:
        if err is not None:
            self.delivery_errors.append(str(err))

    def run(self) -> None:
        per_step = len(build_series(self.spec))
        start_ms = int(time.time() * 1000)
        stream = messages(self.spec, start_ms, STEP_MS)
        started = time.monotonic()
        step = 0
        while not self._halt.is_set():
            with self._lock:
                prefix = self.prefix
                sent = self.produced[prefix]
            host = f'"host":"{prefix}'.encode()
            for _ in range(per_step):
                key, value = next(stream)
                value = value.replace(b'"host":"loadgen-', host, 1)
                key = key.replace(b"loadgen-", prefix.encode(), 1)
                sent.add(value)
                while True:
                    try:
                        self.producer.produce(
                            self.topic,
                            value=value,
                            key=key,
                            on_delivery=self._delivered,
                        )
                        break
                    except BufferError:
                        self.producer.poll(0.05)
            self.producer.poll(0)
            step += 1
            # Event time = now: each step is sent when its timestamp comes due.
            ahead = started + step * STEP_MS / 1000 - time.monotonic()
            if ahead > 0:
                self._halt.wait(ahead)

    def finish(self) -> int:
        """Stop, deliver what is queued; the number of records not delivered."""
        self._halt.set()
        self.join(30)
        return int(self.producer.flush(120))


def kill_service(pipeline: TestPipeline, name: str) -> int:
    """SIGKILL the service's whole process group, as a crash would."""
    pid = pipeline.state().get(name).pid
    assert pid, f"{name} has no pid in the state file"
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        os.kill(pid, signal.SIGKILL)
    return pid


def wait_ready(pipeline: TestPipeline, name: str, old_pid: int) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        service = pipeline.state().get(name)
        if service.state == "ready" and service.pid not in (None, old_pid):
            return True
        time.sleep(0.5)
    return False


def lag_groups(pipeline: TestPipeline) -> list[str]:
    return [
        pipeline.config.process.consumer_group,
        "connect-opensearch-rollup",
        "connect-influxdb-rollup",
    ]


def lags(reader: LagReader, groups: list[str]) -> dict[str, tuple[int, float | None]]:
    """group -> (offsets behind, seconds behind); empty when Kafka cannot answer."""
    try:
        read = reader.read(only=groups)
    except (KafkaException, RuntimeError) as exc:
        log.info("lag not readable yet: %s", exc)
        return {}
    return {g.group: (g.total_lag, g.lag_s) for g in read}


def wait_lag(reader: LagReader, groups: list[str], timeout_s: float) -> bool:
    """Every group under LAG_NORMAL_S behind."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = lags(reader, groups)
        if set(seen) == set(groups) and all(
            s is not None and s <= LAG_NORMAL_S for _, s in seen.values()
        ):
            return True
        time.sleep(1.0)
    return False


def wait_caught_up(reader: LagReader, group: str, timeout_s: float) -> str:
    """Wait until the group's commits reach the end offsets its topics had when the
    wait began; "" when they do, else what was left.

    Not "lag 0": Telegraf keeps producing the host's own metrics, and the job keeps
    rolling them up, so a lag of zero is only ever seen by chance.
    """
    deadline = time.monotonic() + timeout_s
    target: dict[tuple[str, int], int] = {}
    left = "no committed offsets"
    while time.monotonic() < deadline:
        try:
            read = reader.read(only=[group])
        except (KafkaException, RuntimeError) as exc:
            left = f"lag not readable: {exc}"
            read = []
        for lag in read:
            for p in lag.partitions:
                target.setdefault((p.topic, p.partition), p.end)
            behind = {
                f"{p.topic}[{p.partition}]": target[(p.topic, p.partition)]
                - (p.committed or 0)
                for p in lag.partitions
                if (p.committed or 0) < target[(p.topic, p.partition)]
            }
            if target and not behind:
                return ""
            left = f"records behind the target: {behind}"
        time.sleep(1.0)
    return f"{group}: {left}"


def drain(reader: LagReader, groups: list[str], timeout_s: float) -> list[str]:
    """The job first (its last windows close and are published), then the sinks."""
    job, *sinks = groups
    left = [wait_caught_up(reader, job, timeout_s)]
    # The rollups of the last closed windows are published by the job's batches
    # after the one that committed the input: give it a few triggers.
    time.sleep(15)
    left += [wait_caught_up(reader, g, timeout_s) for g in sinks]
    return [x for x in left if x]


def read_back(bootstrap: str, topic: str, run_prefix: str) -> Counter[bytes]:
    """Every record of this run on the raw topic, counted (2+: a duplicate)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"metricpipe-faults-readback-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    marker = f'"host":"{run_prefix}'.encode()
    seen: Counter[bytes] = Counter()
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), 10)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        done = {p for p, end in ends.items() if end == 0}
        while len(done) < len(ends):
            message = consumer.poll(2.0)
            if message is None or message.error():
                continue
            value = message.value() or b""
            if marker in value:
                seen[value] += 1
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
    finally:
        consumer.close()
    return seen


def run_matrix(root: Path, rounds: int, hold_s: float, name: str) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    overrides = {
        "store": {"opensearch_heap_mb": 512},
        "supervisor": {"max_restarts": 50, "restart_backoff_max_s": 5.0},
    }
    services = list(DEFAULT_SERVICES)
    phases: list[Phase] = []
    with running_pipeline(root, services, overrides) as pipeline:
        config = pipeline.config
        bootstrap = config.kafka.bootstrap
        topic = config.kafka.topics.raw.name
        reader = LagReader(bootstrap)
        groups = lag_groups(pipeline)
        load = SteadyLoad(bootstrap, topic, seed=7)
        load.switch(f"fm{run}-warmup-")
        load.start()
        # Known shortcoming: a failure before the reconciliation (here, or the
        # pytest timeout) writes no table to test-artifacts/.
        assert wait_lag(reader, groups, LAG_TIMEOUT_S), (
            f"the pipeline never reached normal lag before the first fault: "
            f"{lags(reader, groups)}"
        )
        for r in range(rounds):
            for service in FAULTS:
                phase = Phase(service, f"fm{run}-{service}{r}-", r)
                phases.append(phase)
                load.switch(phase.prefix)
                time.sleep(hold_s)
                phase.killed_pid = kill_service(pipeline, service)
                phase.killed_at = time.monotonic()
                if wait_ready(pipeline, service, phase.killed_pid):
                    phase.ready_s = time.monotonic() - phase.killed_at
                    if wait_lag(reader, groups, LAG_TIMEOUT_S):
                        phase.lag_normal_s = time.monotonic() - phase.killed_at
                        phase.recovered = True
                    else:
                        phase.note = f"lag stayed high: {lags(reader, groups)}"
                else:
                    phase.note = f"not ready again: {pipeline.state().get(service)}"
                time.sleep(hold_s)
        # A tail of load moves the watermark past every fault's last window.
        load.switch(f"fm{run}-tail-")
        time.sleep(watermark_s(config) + max(config.process.window_s) + 10)
        undelivered = load.finish()
        not_drained = drain(reader, groups, DRAIN_TIMEOUT_S)

        raw = read_back(bootstrap, topic, f"fm{run}-")
        expected_all: dict[str, Expected] = {}
        max_ts = 0
        for value, _ in raw.items():
            record = json.loads(value)
            max_ts = max(max_ts, int(record["timestamp"]))
            prefix = str(record["tags"]["host"]).rsplit("-", 1)[0] + "-"
            expected = expected_all.setdefault(
                prefix, Expected(config.process.window_s)
            )
            expected.add(record)
        watermark_ms = max_ts - int(watermark_s(config) * 1000)

        store = config.store
        rows = []
        for phase in phases:
            produced = load.produced.get(phase.prefix, set())
            got = {v: n for v, n in raw.items() if v in produced}
            raw_lost = len(produced) - len(got)
            raw_dup = sum(n - 1 for n in got.values())
            expected = expected_all.get(phase.prefix, Expected(config.process.window_s))
            closed = expected.closed(watermark_ms)
            reports: list[StoreReport] = [
                reconcile(
                    closed,
                    opensearch_rollups(
                        f"http://127.0.0.1:{store.opensearch_port}",
                        store.rollup_index_prefix,
                        phase.prefix,
                    ),
                    (0, watermark_ms),
                ),
                reconcile(
                    closed,
                    influxdb_rollups(
                        f"http://127.0.0.1:{store.influxdb_port}",
                        store.influxdb_database,
                        store.influxdb_measurement_prefix,
                        SHAPES,
                        phase.prefix,
                    ),
                    (0, watermark_ms),
                ),
            ]
            lost = raw_lost + max(r.missing + r.count_mismatch for r in reports)
            duplicated = raw_dup + max(r.duplicated + r.unexpected for r in reports)
            rows.append(
                {
                    "service": phase.service,
                    "round": phase.round,
                    "recovered": phase.recovered,
                    "ready_s": _round(phase.ready_s),
                    "lag_normal_s": _round(phase.lag_normal_s),
                    "produced": len(produced),
                    "raw_lost": raw_lost,
                    "raw_duplicated": raw_dup,
                    "windows_reconciled": len(closed),
                    "lost": lost,
                    "duplicated": duplicated,
                    "value_mismatch": sum(r.value_mismatch for r in reports),
                    "stores": [r.__dict__ for r in reports],
                    "note": phase.note,
                }
            )
    return {
        "name": name,
        "run": run,
        "rounds": rounds,
        "hold_s": hold_s,
        "watermark_ms": watermark_ms,
        "delivery_errors": load.delivery_errors[:10],
        "delivery_error_count": len(load.delivery_errors) + undelivered,
        "drained": not not_drained,
        "not_drained": not_drained,
        "faults": rows,
        "summary": summarize(rows),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for service in FAULTS:
        mine = [r for r in rows if r["service"] == service]
        ready = [r["ready_s"] for r in mine if r["ready_s"] is not None]
        lag = [r["lag_normal_s"] for r in mine if r["lag_normal_s"] is not None]
        table.append(
            {
                "service": service,
                "faults": len(mine),
                "recovered": sum(1 for r in mine if r["recovered"]),
                "lost": sum(r["lost"] for r in mine),
                "duplicated": sum(r["duplicated"] for r in mine),
                "value_mismatch": sum(r["value_mismatch"] for r in mine),
                "windows": sum(r["windows_reconciled"] for r in mine),
                "ready_s_max": max(ready) if ready else None,
                "lag_normal_s_max": max(lag) if lag else None,
            }
        )
    return table


def save(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    head = [
        "service",
        "faults",
        "recovered",
        "lost",
        "duplicated",
        "value_mismatch",
        "windows",
        "ready_s_max",
        "lag_normal_s_max",
    ]
    table = Table(title=f"fault matrix ({result['name']}, run {result['run']})")
    for column in head:
        table.add_column(column)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["summary"]:
        cells = [str(row[c]) for c in head]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    absent = ["burrow", "not part of the stack (cannot be provisioned here)"]
    table.add_row(absent[0], absent[1], *[""] * (len(head) - 2))
    lines.append(f"| {absent[0]} | {absent[1]} |" + " |" * (len(head) - 2))
    Console(width=140).print(table)
    ARTIFACTS.mkdir(exist_ok=True)
    stem = ARTIFACTS / f"fault-matrix-{result['name']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    notes = [
        "",
        f"delivery errors: {result['delivery_error_count']}; "
        f"drained: {result['drained']} {result['not_drained'] or ''}; "
        f"hold {result['hold_s']} s per side; "
        f"lag normal = every group under {LAG_NORMAL_S} s behind.",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines + notes) + "\n")


def check(result: dict[str, Any]) -> None:
    assert result["delivery_error_count"] == 0, result["delivery_errors"]
    # Not drained is no verdict by itself: the wait only gives the stores time. A
    # window still missing from a store is counted as lost by the reconciliation
    # below; the table's notes say what was left.
    bad = [
        {k: r[k] for k in ("service", "round", "recovered", "lost", "duplicated")}
        | {"value_mismatch": r["value_mismatch"], "note": r["note"]}
        | {"examples": [e for s in r["stores"] for e in s["examples"]]}
        for r in result["faults"]
        if not r["recovered"]
        or r["lost"]
        or r["duplicated"]
        or r["value_mismatch"]
        or r["windows_reconciled"] == 0
    ]
    assert not bad, json.dumps(bad, indent=2)


@pytest.mark.timeout(1800)  # stack start, warm-up, six faults, drain
def test_fault_matrix_one_kill_per_service(tmp_path: Path) -> None:
    result = run_matrix(tmp_path, rounds=1, hold_s=15.0, name="default")
    save(result)
    check(result)


@pytest.mark.soak
@pytest.mark.timeout(5400)
def test_fault_matrix_soak(tmp_path: Path) -> None:
    result = run_matrix(tmp_path, rounds=3, hold_s=60.0, name="soak")
    save(result)
    check(result)
