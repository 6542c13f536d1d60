"""``metricpipe bench``: throughput, freshness and footprint in one run.

The stack is started the way users start it (``metricpipe up --detach``, free
loopback ports, its own workspace) and always brought down. Phases, in order:
time from ``up`` to the first rollup, idle footprint, the I/O bound (a plain
consumer over a pre-filled topic), the batch ceiling (the job's logic as a Spark
batch over the same topic), the pipeline's sustained rate (stepped target rates,
each held while the job's consumer-group lag is watched), freshness and footprint
under a moderate load, and the Telegraf-only peer stepped the same way.
"""

import contextlib
import json
import logging
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import tomli_w
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

from metricpipe.bench import loadgen, peer
from metricpipe.config import Config, load_config, merge
from metricpipe.lag.offsets import LagReader
from metricpipe.paths import Workspace
from metricpipe.supervisor.config import DEFAULT_SERVICES
from metricpipe.supervisor.state import PipelineState
from metricpipe.testing import cli, local_ports_config

log = logging.getLogger(__name__)

# The whole default stack, as `metricpipe up` runs it for users.
SERVICES = list(DEFAULT_SERVICES)
IO_TOPIC = "bench.io"
PEER_TOPIC = "bench.peer"


@dataclass(frozen=True)
class Plan:
    quick: bool
    hosts: int
    window_s: int
    prefill_messages: int
    io_repeats: int
    batch_passes: int
    rates: tuple[int, ...]
    hold_s: float
    freshness_rate: int
    freshness_s: float
    sample_s: float

    def estimate_s(self) -> float:
        stack = 240.0  # up, first rollup, down, on this (shared) machine kind
        prefill = self.prefill_messages / 40_000
        io = self.io_repeats * self.prefill_messages / 150_000
        # The job's logic as a batch ran at ~10k msg/s here (docs/bench).
        batch = 40 + self.batch_passes * self.prefill_messages / 10_000
        steps = 2 * len(self.rates) * (self.hold_s + 10)  # pipeline and peer
        return stack + prefill + io + batch + steps + self.freshness_s + 20


def make_plan(quick: bool) -> Plan:
    if quick:
        return Plan(
            quick=True,
            hosts=50,
            window_s=10,
            prefill_messages=200_000,
            io_repeats=1,
            batch_passes=2,
            rates=(1_000, 2_000, 5_000, 10_000),
            hold_s=20,
            freshness_rate=1_000,
            freshness_s=40,
            sample_s=2,
        )
    return Plan(
        quick=False,
        hosts=200,
        window_s=10,
        # 1M: the batch ceiling's three passes (one warm-up) take ~5 min at the
        # ~10k msg/s it reaches here; 2M took 17 of the run's 35 minutes.
        prefill_messages=1_000_000,
        io_repeats=3,
        batch_passes=3,
        # Fine steps below 5k: the job's sustained rate on 2 cores is in the low
        # thousands (process/README.md), and a plan starting above it says nothing.
        rates=(1_000, 2_000, 3_000, 5_000, 10_000, 20_000, 40_000, 80_000, 150_000),
        hold_s=60,
        freshness_rate=5_000,
        freshness_s=240,
        sample_s=5,
    )


class Progress:
    """A one-line progress bar on stderr, from the plan's time estimate."""

    def __init__(self, total_s: float, enabled: bool) -> None:
        self.total_s = total_s
        self.started = time.monotonic()
        self.enabled = enabled
        self.current = ""

    def phase(self, name: str) -> None:
        self.current = name
        if not self.enabled:
            return
        spent = time.monotonic() - self.started
        share = min(1.0, spent / self.total_s)
        bar = "#" * int(share * 30)
        print(
            f"\r[{bar:<30}] {spent / 60:4.1f}/{self.total_s / 60:.0f} min  {name:<40}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def done(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


# --- Kafka helpers --------------------------------------------------------------------


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    futures = admin.create_topics([NewTopic(name, partitions, 1)])
    futures[name].result(30)


def io_bound(bootstrap: str, topic: str, expected: int) -> dict[str, float]:
    """A plain consumer reading ``expected`` messages as fast as it can."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"metricpipe-bench-io-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
            "log_level": 0,
        }
    )
    consumer.subscribe([topic])
    count = size = 0
    started: float | None = None
    deadline = time.monotonic() + 600
    while count < expected and time.monotonic() < deadline:
        for message in consumer.consume(10_000, 1.0):
            if message.error():
                continue
            if started is None:
                # Timed from the first message: the group join is not I/O.
                started = time.perf_counter()
            count += 1
            size += len(message.value() or b"")
    seconds = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return {
        "messages": count,
        "seconds": round(seconds, 3),
        "messages_per_s": round(count / seconds, 1) if seconds else 0.0,
        "mb_per_s": round(size / seconds / 1e6, 2) if seconds else 0.0,
    }


# --- Stores ---------------------------------------------------------------------------


class WindowWatch:
    """Notes when each rollup window's final value shows up in InfluxDB and
    OpenSearch.

    The job writes a window's rollup with every micro-batch that adds points to it
    (update mode), so a window is first visible early and partial. What counts is
    when its last version became visible: per window start, the total point count
    over all series, and the poll time at which that total last changed. Polled
    every ``poll_s``: a delay is known to within that interval.
    """

    def __init__(self, config: Config, measurement: str, since_ms: int) -> None:
        self.config = config
        self.measurement = config.store.influxdb_measurement_prefix + measurement
        self.since_ms = since_ms
        #: window start (ms) -> (total count, when first seen, when last changed)
        self.influx: dict[int, tuple[float, float, float]] = {}
        self.search: dict[int, tuple[float, float, float]] = {}
        self.http = httpx.Client(timeout=5.0)
        self.influx_auth = config.store.influxdb_auth()
        self.influx_url = f"http://127.0.0.1:{config.store.influxdb_port}/query"
        self.search_url = (
            f"http://127.0.0.1:{config.store.opensearch_port}/"
            f"{config.store.rollup_index_prefix}-*/_search"
        )

    def poll(self) -> None:
        now = time.time()
        for seen, totals in (
            (self.influx, self._influx_totals()),
            (self.search, self._search_totals()),
        ):
            for start, total in totals.items():
                before = seen.get(start)
                if before is None:
                    seen[start] = (total, now, now)
                elif before[0] != total:
                    seen[start] = (total, before[1], now)

    def _influx_totals(self) -> dict[int, float]:
        query = (
            f'SELECT sum("count") FROM "{self.measurement}" '
            f"WHERE time >= {self.since_ms}ms GROUP BY time(1s) fill(none)"
        )
        try:
            answer = self.http.get(
                self.influx_url,
                params={"db": self.config.store.influxdb_database, "q": query},
                auth=self.influx_auth,
            )
            series = answer.json()["results"][0].get("series") or []
        except (httpx.HTTPError, ValueError, KeyError, IndexError):
            return {}
        return {
            int(_rfc3339_ms(stamp)): float(total)
            for stamp, total in (series[0]["values"] if series else [])
        }

    def _search_totals(self) -> dict[int, float]:
        body = {
            "size": 0,
            "query": {"range": {"window_start": {"gte": self.since_ms}}},
            "aggs": {
                "w": {
                    "terms": {"field": "window_start", "size": 500},
                    "aggs": {"points": {"sum": {"field": "count"}}},
                }
            },
        }
        try:
            answer = self.http.post(self.search_url, json=body)
            buckets = answer.json()["aggregations"]["w"]["buckets"]
        except (httpx.HTTPError, ValueError, KeyError):
            return {}
        return {int(b["key"]): float(b["points"]["value"]) for b in buckets}


def _rfc3339_ms(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_s": None, "p95_s": None, "p99_s": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"n": len(ordered), "p50_s": at(0.5), "p95_s": at(0.95), "p99_s": at(0.99)}


# --- Footprint ------------------------------------------------------------------------


def service_processes(workspace: Workspace) -> dict[str, list[psutil.Process]]:
    state = PipelineState.read(workspace.state_file)
    found: dict[str, list[psutil.Process]] = {}
    if state is None:
        return found
    for service in state.services:
        if service.pid is None:
            continue
        try:
            root = psutil.Process(service.pid)
            found[service.name] = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def footprint(workspace: Workspace, seconds: float) -> dict[str, Any]:
    """RSS (MiB) and CPU share (% of one core) per service over ``seconds``."""
    procs = service_processes(workspace)
    for group in procs.values():
        for proc in group:
            with contextlib.suppress(psutil.Error):
                proc.cpu_percent(None)  # starts the CPU clock of this process
    time.sleep(seconds)
    services: dict[str, dict[str, float]] = {}
    for name, group in procs.items():
        rss = cpu = 0.0
        for proc in group:
            try:
                rss += proc.memory_info().rss
                cpu += proc.cpu_percent(None)
            except psutil.Error:
                continue
        services[name] = {"rss_mib": round(rss / 2**20, 1), "cpu_pct": round(cpu, 1)}
    return {
        "seconds": seconds,
        "services": services,
        "total_rss_mib": round(sum(s["rss_mib"] for s in services.values()), 1),
        "total_cpu_pct": round(sum(s["cpu_pct"] for s in services.values()), 1),
    }


# --- Stepped sustained rate -----------------------------------------------------------


@dataclass
class StepResult:
    target: int
    achieved: float
    sustained: bool
    lag_start: int
    lag_end: int
    samples: list[dict[str, float]] = field(default_factory=list)


def hold_rate(
    bootstrap: str,
    topic: str,
    group: str,
    spec: loadgen.LoadSpec,
    rate: int,
    hold_s: float,
    sample_s: float,
    clock: float,
) -> StepResult:
    """Produce at ``rate`` with event time "now" for ``hold_s``; watch the lag.

    Sustained: the producer kept up (>= 95 % of the target) and the group's lag
    at the end is no larger than at the first quarter of the hold plus what the
    consumer may legitimately hold back (three seconds' worth of input).
    """
    series = spec.series_count()
    # One sweep over all series per step: the step is how long a sweep takes at
    # this rate, so event time advances with the wall clock.
    step_ms = max(1, round(series * 1000 / rate))
    count = int(rate * hold_s)
    result: dict[str, loadgen.LoadResult] = {}

    def send() -> None:
        result["r"] = loadgen.produce(
            bootstrap, topic, spec, count, rate_per_s=rate, step_ms=step_ms
        )

    sender = threading.Thread(target=send, daemon=True)
    reader = LagReader(bootstrap)
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    sender.start()
    last_committed: int | None = None
    last_t = started
    last_known = False
    while sender.is_alive():
        sender.join(sample_s)
        now = time.monotonic()
        lags = [g for g in reader.read(only=[group]) if g.group == group]
        # Lag is known only where the group committed: a consumer that never
        # commits must not pass for one with no lag. The last sample must know.
        known = bool(lags) and any(
            p.topic == topic and p.lag is not None for p in lags[0].partitions
        )
        last_known = known
        lag = lags[0].total_lag if lags else 0
        committed = (
            sum(p.committed or 0 for p in lags[0].partitions if p.topic == topic)
            if lags
            else 0
        )
        consumed = (
            (committed - last_committed) / (now - last_t)
            if last_committed is not None and now > last_t
            else 0.0
        )
        last_committed, last_t = committed, now
        samples.append(
            {
                "t_s": round(now - clock, 2),
                "target": rate,
                "lag": lag,
                "consumed_per_s": round(consumed, 1),
            }
        )
    produced = result.get("r")
    achieved = produced.rate if produced else 0.0
    lag_start = int(samples[len(samples) // 4]["lag"]) if samples else 0
    lag_end = int(samples[-1]["lag"]) if samples else 0
    sustained = (
        achieved >= 0.95 * rate
        and lag_end <= lag_start + 3 * rate
        and bool(samples)
        and last_known
    )
    return StepResult(rate, round(achieved, 1), sustained, lag_start, lag_end, samples)


def wait_drained(bootstrap: str, group: str, timeout_s: float, slack: int) -> float:
    """Wait until ``group`` is at most ``slack`` offsets behind; seconds waited.

    A step must not start on the backlog a previous phase left, or it would be
    judged on that. Gives up after ``timeout_s`` (the step then shows the lag).
    """
    reader = LagReader(bootstrap)
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        lags = [g for g in reader.read(only=[group]) if g.group == group]
        if lags and lags[0].total_lag <= slack:
            break
        time.sleep(2)
    return round(time.monotonic() - started, 1)


def step_up(
    run_step: Callable[[int], StepResult],
    rates: tuple[int, ...],
    progress: Progress,
    label: str,
) -> list[StepResult]:
    """Hold each rate in turn; stop at the first one that is not sustained."""
    steps = []
    for rate in rates:
        progress.phase(f"{label} {rate}/s")
        step = run_step(rate)
        steps.append(step)
        if not step.sustained:
            break
    return steps


def best_sustained(steps: list[StepResult]) -> int:
    return max((s.target for s in steps if s.sustained), default=0)


# --- The run --------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    import platform

    import pyspark

    from metricpipe.provision.components import by_name

    return {
        "pyspark": pyspark.__version__,
        "cores": psutil.cpu_count(logical=True),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            name: by_name(name).version
            for name in ("kafka", "spark", "telegraf", "influxdb", "opensearch")
            if _has_component(name)
        },
        "load_avg_at_start": [round(x, 2) for x in psutil.getloadavg()],
    }


def _has_component(name: str) -> bool:
    from metricpipe.provision.components import by_name

    try:
        by_name(name)
    except (KeyError, ValueError, LookupError):
        return False
    return True


def run_bench(root: Path, quick: bool, show_progress: bool = True) -> dict[str, Any]:
    plan = make_plan(quick)
    progress = Progress(plan.estimate_s(), show_progress)
    if show_progress:
        print(
            f"metricpipe bench{' --quick' if quick else ''}: about "
            f"{plan.estimate_s() / 60:.0f} min",
            file=sys.stderr,
        )
    root.mkdir(parents=True, exist_ok=True)
    data = merge(
        local_ports_config(SERVICES),
        {"process": {"window_s": [plan.window_s]}},
    )
    config_file = root / "metricpipe.toml"
    config_file.write_text(tomli_w.dumps(data))
    config = load_config(config_file, environ={})
    workspace = Workspace(root / "ws")
    args = ("--workspace", str(workspace.root), "--config", str(config_file))
    results: dict[str, Any] = {
        "quick": quick,
        "plan": plan.__dict__,
        "machine": machine_facts(),
        "started_at": time.time(),
    }
    spec = loadgen.LoadSpec(hosts=plan.hosts, seed=1)
    fields_per_message = loadgen.fields_per_message()
    results["load"] = {
        "series": spec.series_count(),
        "fields_per_message": round(fields_per_message, 3),
    }
    bootstrap = config.kafka.bootstrap
    raw = config.kafka.topics.raw.name
    partitions = config.kafka.topics.raw.partitions

    progress.phase("up")
    t_up = time.monotonic()
    up = cli("up", "--detach", *args, timeout=900)
    try:
        if up.returncode != 0:
            raise RuntimeError(f"up --detach failed: {up.stdout}\n{up.stderr}")
        up_s = time.monotonic() - t_up

        # First rollup: a light load with event time "now" until InfluxDB has one.
        progress.phase("first rollup")
        watch = WindowWatch(config, "cpu", int(time.time() * 1000) - 60_000)
        first: dict[str, float] = {}

        def first_seen() -> None:
            while not first and time.monotonic() - t_up < 900:
                watch.poll()
                if watch.influx:
                    first["s"] = time.monotonic() - t_up
                time.sleep(0.5)

        poller = threading.Thread(target=first_seen, daemon=True)
        poller.start()
        while poller.is_alive():
            hold_rate(
                bootstrap, raw, config.process.consumer_group, spec, 500, 5, 5, t_up
            )
        results["startup"] = {
            "up_s": round(up_s, 1),
            "first_rollup_s": round(first["s"], 1) if first else None,
        }

        progress.phase("idle footprint")
        time.sleep(plan.window_s * 2)  # let the last windows close
        results["footprint_idle"] = footprint(workspace, 10)

        # I/O bound on a pre-filled topic; timestamps "now - 10 min" onward so the
        # batch ceiling's skew checks accept them.
        progress.phase("pre-fill")
        create_topic(bootstrap, IO_TOPIC, partitions)
        steps_in_prefill = plan.prefill_messages / spec.series_count()
        span_ms = 600_000
        prefill = loadgen.produce(
            bootstrap,
            IO_TOPIC,
            spec,
            plan.prefill_messages,
            start_ms=int(time.time() * 1000) - span_ms,
            step_ms=max(1, int(span_ms / steps_in_prefill)),
        )
        results["loadgen_alone"] = prefill.as_dict()
        io_runs = []
        for i in range(plan.io_repeats):
            progress.phase(f"I/O bound {i + 1}/{plan.io_repeats}")
            io_runs.append(io_bound(bootstrap, IO_TOPIC, plan.prefill_messages))
        results["io_bound"] = {
            "runs": io_runs,
            "messages_per_s": statistics.median(r["messages_per_s"] for r in io_runs),
            "mb_per_s": statistics.median(r["mb_per_s"] for r in io_runs),
        }

        progress.phase("batch ceiling")
        results["batch_ceiling"] = batch_ceiling(
            config_file, root, plan, fields_per_message
        )

        # Pipeline: stepped rates into the raw topic.
        group = config.process.consumer_group
        progress.phase("drain")
        results["drain_before_steps_s"] = wait_drained(bootstrap, group, 300, 1_000)
        clock = time.monotonic()
        pipeline_steps = step_up(
            lambda r: hold_rate(
                bootstrap, raw, group, spec, r, plan.hold_s, plan.sample_s, clock
            ),
            plan.rates,
            progress,
            "pipeline",
        )
        results["pipeline"] = steps_summary(pipeline_steps, fields_per_message)
        results["pipeline"]["job_progress"] = job_progress(workspace)

        # Freshness and footprint under a steady moderate load.
        progress.phase("freshness")
        results["drain_before_freshness_s"] = wait_drained(bootstrap, group, 300, 1_000)
        rate = freshness_rate(plan, results["pipeline"]["sustained_messages_per_s"])
        results["freshness"], results["footprint_load"] = freshness(
            config, workspace, spec, plan, rate
        )

        progress.phase("peer")
        results["peer"] = run_peer(
            config, root, spec, plan, progress, fields_per_message
        )
    except (Exception, KeyboardInterrupt) as exc:
        # Whatever was measured is still written: a partial run says where it
        # stopped instead of losing the figures it has.
        results["unfinished"] = f"stopped in phase {progress.current!r}: {exc!r}"
        log.warning("Bench stopped in phase %s: %r", progress.current, exc)
    finally:
        progress.phase("down")
        cli("down", *args, timeout=300)
        progress.done()
    results["ratios"] = ratios(results)
    results["finished_at"] = time.time()
    return results


def batch_ceiling(
    config_file: Path, root: Path, plan: Plan, fields_per_message: float
) -> dict[str, Any]:
    local = root / "batch-tmp"
    local.mkdir(exist_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "metricpipe.bench.batch",
            "--config",
            str(config_file),
            "--topic",
            IO_TOPIC,
            "--passes",
            str(plan.batch_passes),
            "--local-dir",
            str(local),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-5:]}
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    timed = answer["seconds"][1:] or answer["seconds"]
    seconds = statistics.median(timed)
    rate = answer["messages"] / seconds if seconds else 0.0
    return {
        **answer,
        "median_s": round(seconds, 3),
        "messages_per_s": round(rate, 1),
        "field_values_per_s": round(rate * fields_per_message, 1),
    }


def steps_summary(steps: list[StepResult], fields_per_message: float) -> dict[str, Any]:
    best = best_sustained(steps)
    return {
        "steps": [
            {
                "target": s.target,
                "achieved": s.achieved,
                "sustained": s.sustained,
                "lag_start": s.lag_start,
                "lag_end": s.lag_end,
            }
            for s in steps
        ],
        "samples": [sample for s in steps for sample in s.samples],
        "sustained_messages_per_s": best,
        "sustained_field_values_per_s": round(best * fields_per_message, 1),
        "ceiling_reached": bool(steps) and not steps[-1].sustained,
    }


def job_progress(workspace: Workspace) -> dict[str, Any]:
    """The job's last batch durations by phase, from its metrics file."""
    from metricpipe.process.job import metrics_file

    path = metrics_file(workspace)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data


def freshness_rate(plan: Plan, sustained: int) -> int:
    """The steady moderate load of the freshness phase: the plan's rate, at most
    half the pipeline's sustained rate, so freshness is not measured on a backlog."""
    if sustained <= 0:
        return plan.rates[0] // 2
    return min(plan.freshness_rate, sustained // 2)


def freshness(
    config: Config,
    workspace: Workspace,
    spec: loadgen.LoadSpec,
    plan: Plan,
    rate: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    since = int(time.time() * 1000)
    watch = WindowWatch(config, "cpu", since)
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            watch.poll()
            time.sleep(0.25)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    load: dict[str, Any] = {}

    def measure() -> None:
        time.sleep(plan.freshness_s / 3)
        load.update(footprint(workspace, min(20.0, plan.freshness_s / 3)))

    meter = threading.Thread(target=measure, daemon=True)
    meter.start()
    hold_rate(
        config.kafka.bootstrap,
        config.kafka.topics.raw.name,
        config.process.consumer_group,
        spec,
        rate,
        plan.freshness_s,
        plan.sample_s,
        time.monotonic(),
    )
    time.sleep(plan.window_s + 10)  # the last full window closes and lands
    stop.set()
    poller.join()
    meter.join()
    window_ms = plan.window_s * 1000
    last_end = since + plan.freshness_s * 1000

    def delays(seen: dict[int, tuple[float, float, float]], at: int) -> list[float]:
        # Only windows that started after the load did and ended before it
        # stopped: partial windows at the edges close late by design.
        return [
            times[at] - (start + window_ms) / 1000
            for start, times in seen.items()
            if start >= since and start + window_ms <= last_end
        ]

    final, first = 2, 1
    result = {
        "rate": rate,
        "poll_s": 0.25,
        "measured": "final version of the window visible, minus the window's end",
        "influxdb": percentiles(delays(watch.influx, final)),
        "opensearch": percentiles(delays(watch.search, final)),
        "influxdb_delays_s": sorted(round(d, 3) for d in delays(watch.influx, final)),
        "opensearch_delays_s": sorted(round(d, 3) for d in delays(watch.search, final)),
        "influxdb_first_partial": percentiles(delays(watch.influx, first)),
        "opensearch_first_partial": percentiles(delays(watch.search, first)),
    }
    return result, {**load, "rate": rate}


def run_peer(
    config: Config,
    root: Path,
    spec: loadgen.LoadSpec,
    plan: Plan,
    progress: Progress,
    fields_per_message: float,
) -> dict[str, Any]:
    bootstrap = config.kafka.bootstrap
    create_topic(bootstrap, PEER_TOPIC, config.kafka.topics.raw.partitions)
    influx_url = f"http://127.0.0.1:{config.store.influxdb_port}"
    auth = config.store.influxdb_auth()
    peer.create_database(influx_url, auth)
    toml = peer.peer_toml(bootstrap, PEER_TOPIC, influx_url, plan.window_s, auth)
    process = peer.start_peer(root / "peer", toml)
    try:
        clock = time.monotonic()
        steps = step_up(
            lambda r: hold_rate(
                bootstrap,
                PEER_TOPIC,
                peer.PEER_GROUP,
                spec,
                r,
                plan.hold_s,
                plan.sample_s,
                clock,
            ),
            plan.rates,
            progress,
            "peer",
        )
        stored = _peer_points(config)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return {**steps_summary(steps, fields_per_message), "stored_points": stored}


def _peer_points(config: Config) -> int | None:
    """Points the peer wrote: evidence it really aggregated and stored."""
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{config.store.influxdb_port}/query",
            params={"db": peer.PEER_DATABASE, "q": 'SELECT count(*) FROM "cpu"'},
            auth=config.store.influxdb_auth(),
            timeout=10,
        )
        series = answer.json()["results"][0].get("series") or []
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return None
    if not series:
        return 0
    return int(max(v for v in series[0]["values"][0][1:] if isinstance(v, int)))


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    pipe = results.get("pipeline", {}).get("sustained_messages_per_s") or 0

    def over(value: Any) -> float | None:
        return (
            round(pipe / value, 3) if isinstance(value, int | float) and value else None
        )

    return {
        "pipeline_over_io_bound": over(
            results.get("io_bound", {}).get("messages_per_s")
        ),
        "pipeline_over_batch_ceiling": over(
            results.get("batch_ceiling", {}).get("messages_per_s")
        ),
        "pipeline_over_peer": over(
            results.get("peer", {}).get("sustained_messages_per_s")
        ),
    }
