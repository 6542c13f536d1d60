"""Real Telegraf writing to a real broker: shape, delay, and surviving an outage."""

import itertools
import os
import signal
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metricpipe.collect.telegraf_conf import hostname
from metricpipe.collect.tests.rawtopic import RawRecord, read_until
from metricpipe.testing import TestPipeline, running_pipeline


@pytest.fixture(scope="module")
def telegraf_pipeline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestPipeline]:
    with running_pipeline(
        tmp_path_factory.mktemp("telegraf"), ["kafka", "telegraf"]
    ) as pipeline:
        yield pipeline


def _mine(records: list[RawRecord], host: str, name: str) -> list[RawRecord]:
    return [
        r for r in records if r.key == host.encode() and r.metric.get("name") == name
    ]


@pytest.mark.integration
def test_host_metrics_reach_the_raw_topic(telegraf_pipeline: TestPipeline) -> None:
    config = telegraf_pipeline.config
    host = hostname(config)
    wanted = ("cpu", "mem", "net")

    records = read_until(
        config.kafka.bootstrap,
        config.kafka.topics.raw.name,
        lambda got: all(_mine(got, host, name) for name in wanted),
        timeout_s=15,
    )

    now_ms = time.time() * 1000
    for name in wanted:
        mine = _mine(records, host, name)
        assert mine, f"no {name} metric keyed {host!r} within 15 s of up"
        for record in mine:
            metric = record.metric
            assert set(metric) == {"name", "tags", "fields", "timestamp"}
            assert metric["tags"]["host"] == host
            assert all(isinstance(v, str) for v in metric["tags"].values())
            assert metric["fields"]
            assert all(
                isinstance(v, int | float) and not isinstance(v, bool)
                for v in metric["fields"].values()
            ), metric["fields"]
            # Milliseconds since the epoch, and recent: not s, not µs, not stale.
            assert isinstance(metric["timestamp"], int)
            assert abs(now_ms - metric["timestamp"]) < 120_000, metric["timestamp"]
            # The record carries the metric's own time (producer_timestamp=metric).
            assert record.record_ts_ms == metric["timestamp"]

    assert "cpu-total" in {r.metric["tags"]["cpu"] for r in _mine(records, host, "cpu")}
    assert all("interface" in r.metric["tags"] for r in _mine(records, host, "net"))


@pytest.mark.integration
def test_delay_from_metric_time_to_kafka(telegraf_pipeline: TestPipeline) -> None:
    """Time from a metric's timestamp until a tailing consumer receives it."""
    config = telegraf_pipeline.config
    window_s = 30.0
    started = time.monotonic()

    records = read_until(
        config.kafka.bootstrap,
        config.kafka.topics.raw.name,
        lambda _: time.monotonic() - started > window_s,
        timeout_s=window_s + 5,
        from_beginning=False,
    )

    delays = sorted(r.received_ms - r.metric["timestamp"] for r in records)
    assert len(delays) > 50, f"only {len(delays)} records in {window_s:g} s"
    p50 = statistics.median(delays)
    print(
        f"\ndelay metric timestamp -> consumer receipt over {window_s:g} s, "
        f"{len(delays)} records: p50={p50:.0f} ms p95="
        f"{delays[int(len(delays) * 0.95)]} ms max={delays[-1]} ms"
    )
    # A metric waits at most one flush interval in the buffer, plus the write.
    bound_ms = config.collect.flush_interval_s * 1000 + 2000
    assert p50 <= bound_ms
    assert delays[-1] <= bound_ms + config.collect.interval_s * 1000


def _await_kafka_restarted(
    pipeline: TestPipeline, old_pid: int, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        kafka = pipeline.state().get("kafka")
        if kafka.state == "ready" and kafka.pid not in (None, old_pid):
            return
        time.sleep(0.2)
    raise AssertionError(f"kafka was not restarted and ready within {timeout_s:g} s")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("batch", "buffer", "expect_loss"),
    [(100, 5000, False), (10, 20, True)],
    ids=["buffer-covers-outage", "buffer-too-small"],
)
def test_outage_loss_bound(
    tmp_path: Path, batch: int, buffer: int, expect_loss: bool
) -> None:
    """Kill the broker; with buffer B, nothing is lost for outages shorter than
    B / metrics-per-interval intervals, and longer ones lose the oldest metrics."""
    interval_ms = 1000
    overrides = {
        "collect": {
            "interval_s": interval_ms / 1000,
            "flush_interval_s": 1,
            "inputs": ["cpu"],
            "metric_batch_size": batch,
            "metric_buffer_limit": buffer,
        }
    }
    with running_pipeline(tmp_path, ["kafka", "telegraf"], overrides) as pipeline:
        config = pipeline.config
        host = hostname(config)
        bootstrap, topic = config.kafka.bootstrap, config.kafka.topics.raw.name

        # Steady state first: a few intervals of metrics on the topic.
        before = read_until(
            bootstrap,
            topic,
            lambda got: len(_mine(got, host, "cpu")) >= 4,
            timeout_s=20,
        )
        cpu_before = sorted(r.metric["timestamp"] for r in _mine(before, host, "cpu"))
        last_ts = cpu_before[-1]
        # Metrics per interval, all inputs and Telegraf's own stats together.
        per_interval = sum(
            1
            for r in before
            if r.key == host.encode()
            and cpu_before[0] <= r.metric["timestamp"] < cpu_before[-1]
        ) / (len(cpu_before) - 1)

        kafka_pid = pipeline.state().get("kafka").pid
        assert kafka_pid is not None
        killed_ms = time.time() * 1000
        os.kill(kafka_pid, signal.SIGKILL)
        _await_kafka_restarted(pipeline, kafka_pid, timeout_s=120)
        back_ms = time.time() * 1000
        outage_intervals = (back_ms - killed_ms) / interval_ms
        bound_intervals = buffer / per_interval

        # Everything produced after the restart must arrive too.
        after = read_until(
            bootstrap,
            topic,
            # Telegraf's own counters of that later moment must be in too.
            lambda got: all(
                any(
                    r.metric["timestamp"] > back_ms + 3 * interval_ms
                    and r.metric["tags"].get("output", "kafka") == "kafka"
                    for r in _mine(got, host, name)
                )
                for name in ("cpu", "internal_write")
            ),
            timeout_s=60,
        )
        cpu = sorted(
            {
                r.metric["timestamp"]
                for r in _mine(after, host, "cpu")
                if r.metric["timestamp"] >= last_ts
            }
        )
        assert cpu and cpu[-1] > back_ms, "no cpu metric produced after the restart"
        gaps = [b - a for a, b in itertools.pairwise(cpu)]
        missing = sum(round(g / interval_ms) - 1 for g in gaps)
        dropped = max(
            (
                r.metric["fields"].get("metrics_dropped", 0)
                for r in after
                if r.metric["name"] == "internal_write"
                and r.metric["tags"].get("output") == "kafka"
            ),
            default=0,
        )
        print(
            f"\nbuffer={buffer} metrics/interval={per_interval:.1f} "
            f"bound={bound_intervals:.1f} intervals outage={outage_intervals:.1f} "
            f"intervals; cpu timestamps {len(cpu)} over "
            f"{(cpu[-1] - cpu[0]) / 1000:.0f} s, missing={missing}, "
            f"internal_write.metrics_dropped={dropped}"
        )

        # The outage must be long enough to mean something for this buffer.
        assert outage_intervals >= 3
        if expect_loss:
            assert outage_intervals > bound_intervals
            assert missing > 0, "a too-small buffer lost nothing: bound not shown"
            assert dropped > 0, "loss happened but Telegraf did not report it"
        else:
            assert outage_intervals < bound_intervals
            assert missing == 0, f"{missing} cpu intervals lost: gaps {gaps}"
            assert dropped == 0


@pytest.mark.integration
def test_probe_waits_for_a_record_keyed_by_this_host(
    kafka_pipeline: TestPipeline, tmp_path: Path
) -> None:
    """No Telegraf runs here: the probe must say no, quickly, until a record keyed
    by this host lands after prepare(); a record of another host does not count."""
    from confluent_kafka import Producer

    from metricpipe.collect.service import TelegrafService
    from metricpipe.paths import Workspace

    config = kafka_pipeline.config.model_copy(deep=True)
    config.collect.hostname = f"probe-{os.getpid()}"
    service = TelegrafService(config, Workspace(tmp_path))
    service.prepare()
    producer = Producer({"bootstrap.servers": config.kafka.bootstrap})
    topic = config.kafka.topics.raw.name
    try:
        started = time.monotonic()
        assert service.probe() is False
        assert time.monotonic() - started < 2.0

        producer.produce(topic, key=b"someone-else", value=b"{}")
        producer.flush(10)
        assert service.probe() is False

        producer.produce(topic, key=config.collect.hostname.encode(), value=b"{}")
        producer.flush(10)
        deadline = time.monotonic() + 10
        while not service.probe():
            assert time.monotonic() < deadline, "probe never saw the host's record"
    finally:
        service.after_ready()
