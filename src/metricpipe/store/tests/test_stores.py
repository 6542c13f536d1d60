"""The stores and sinks end to end: real Kafka, OpenSearch, InfluxDB and Connect.

One pipeline serves the module; each test uses its own host tag so that their
records never mix.
"""

import os
import signal
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from metricpipe.store.connect import connector_states, sink_dlq_size
from metricpipe.store.search import index_templates
from metricpipe.store.tests.storecheck import (
    Stores,
    alert,
    key_of,
    rollup,
    wait_for,
    window_now,
)
from metricpipe.testing import running_pipeline

pytestmark = pytest.mark.integration

SERVICES = ["kafka", "opensearch", "influxdb", "connect"]
ALL_SINKS = [
    "opensearch-rollup",
    "opensearch-alert",
    "influxdb-rollup",
    "influxdb-alert",
]
# Short enough that a stopped store makes requests time out several times.
OVERRIDES = {
    "store": {
        "sink_request_timeout_s": 3.0,
        "sink_retry_backoff_ms": 500,
        "sink_offset_flush_interval_ms": 1000,
        "opensearch_heap_mb": 512,
    }
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    root = tmp_path_factory.mktemp("store")
    with running_pipeline(root, SERVICES, OVERRIDES) as pipeline:
        yield Stores(pipeline)


def _index(prefix: str, window_start: int) -> str:
    return prefix + "-" + time.strftime("%Y.%m.%d", time.gmtime(window_start / 1000))


def test_every_sink_runs_and_templates_are_installed(stores: Stores) -> None:
    states = {s.name: s for s in connector_states(stores.pipeline.config)}

    assert set(states) == set(ALL_SINKS)
    assert all(s.running for s in states.values()), states
    for name in index_templates(stores.pipeline.config.store):
        response = httpx.get(f"{stores.search}/_index_template/{name}", timeout=5)
        assert response.status_code == 200


def test_records_are_stored_exactly_and_replay_overwrites(stores: Stores) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    start = window_now()
    rollups = [rollup(host, f"{host}-s{i}", start) for i in range(5)]
    alerts = [alert(host, f"{host}-s0", start)]
    stores.produce("metrics.rollup", [(key_of(r), r) for r in rollups])
    stores.produce("metrics.alerts", [(key_of(a), a) for a in alerts])

    # OpenSearch: the document under the key, with the record's exact content.
    index = _index("metrics-rollup", start)
    first = rollups[0]
    doc = wait_for(
        lambda: stores.document(index, key_of(first)), 60, "the rollup document"
    )
    assert doc["_id"] == f"{host}-s0|{start}"
    assert doc["_source"] == {**first, "@timestamp": start}
    alert_doc = wait_for(
        lambda: stores.document(_index("metrics-alerts", start), key_of(alerts[0])),
        60,
        "the alert document",
    )
    assert alert_doc["_source"]["severity"] == "critical"

    # InfluxDB: one point per rollup, tags from the series, timestamp = window start.
    def five_points() -> list[dict[str, Any]] | None:
        found = stores.points("rollup_cpu", host)
        return found if len(found) == 5 else None

    points = wait_for(five_points, 60, "5 InfluxDB points")
    point = next(p for p in points if p["series_id"] == first["series_id"])
    assert point["time"] == start
    assert point["cpu"] == "cpu-total"
    assert point["field"] == "usage_idle"
    assert point["window_s"] == "10"
    assert point["count"] == 5
    assert point["mean"] == 2.0 and point["p99"] == 3.0
    alert_points = wait_for(
        lambda: stores.points("alert_cpu", host), 60, "the alert point"
    )
    assert alert_points[0]["severity"] == "critical"
    assert alert_points[0]["score"] == 4.2

    # Replay: same keys again. Every document is overwritten (version 2), none
    # added; InfluxDB still has one point per series and window.
    stores.produce("metrics.rollup", [(key_of(r), r) for r in rollups])
    wait_for(
        lambda: all(
            (d := stores.document(index, key_of(r))) and d["_version"] == 2
            for r in rollups
        ),
        60,
        "the replayed documents",
    )
    wait_for(lambda: stores.caught_up(ALL_SINKS), 60, "sinks to commit the replay")
    assert stores.count_docs("metrics-rollup-*", host) == 5
    assert len(stores.points("rollup_cpu", host)) == 5


def test_rejected_record_goes_to_dlq_and_later_records_are_stored(
    stores: Stores,
) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    start = window_now()
    bad = rollup(host, f"{host}-bad", start, mean="not-a-number")
    good = [rollup(host, f"{host}-g{i}", start) for i in range(3)]
    stores.produce("metrics.rollup", [(key_of(bad), bad)])
    stores.produce("metrics.rollup", [(key_of(g), g) for g in good])

    wait_for(
        lambda: stores.count_docs("metrics-rollup-*", host) == 3, 60, "3 good documents"
    )
    wait_for(lambda: len(stores.points("rollup_cpu", host)) == 3, 60, "3 good points")

    def bad_in_dlq() -> list[tuple[str, dict[str, str]]]:
        found = [(k, h) for k, h in stores.dlq() if k == key_of(bad)]
        return found if len(found) == 2 else []

    rejected = wait_for(bad_in_dlq, 60, "the bad record in the DLQ twice", every_s=1)
    by_connector = {h["__connect.errors.connector.name"]: h for _, h in rejected}
    assert set(by_connector) == {"opensearch-rollup", "influxdb-rollup"}
    assert (
        "mapper_parsing_exception"
        in (by_connector["opensearch-rollup"]["__connect.errors.exception.message"])
    )
    assert (
        "mean" in by_connector["influxdb-rollup"]["__connect.errors.exception.message"]
    )
    assert stores.document(_index("metrics-rollup", start), key_of(bad)) is None
    assert sink_dlq_size(stores.pipeline.config) >= 2


def test_delay_from_topic_to_each_store(stores: Stores) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    start = window_now()
    delays: dict[str, list[float]] = {"opensearch": [], "influxdb": []}
    for i in range(5):
        record = rollup(host, f"{host}-d{i}", start)
        sent = time.monotonic()
        stores.produce("metrics.rollup", [(key_of(record), record)])
        pending = {"opensearch", "influxdb"}
        deadline = sent + 60
        while pending and time.monotonic() < deadline:
            if "opensearch" in pending and stores.document(
                _index("metrics-rollup", start), key_of(record)
            ):
                delays["opensearch"].append(time.monotonic() - sent)
                pending.discard("opensearch")
            if "influxdb" in pending and len(stores.points("rollup_cpu", host)) > i:
                delays["influxdb"].append(time.monotonic() - sent)
                pending.discard("influxdb")
            time.sleep(0.02)
        assert not pending, f"record {i} not in {pending} within 60 s"

    for store, values in delays.items():
        print(
            f"delay topic->{store}: median {statistics.median(values) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms over {len(values)} records"
        )
        assert max(values) < 30


def _pid(stores: Stores, service: str) -> int:
    pid = stores.pipeline.state().get(service).pid
    assert pid is not None
    return pid


def test_stopped_stores_lose_nothing_and_store_nothing_twice(stores: Stores) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    start = window_now()
    influx, search = _pid(stores, "influxdb"), _pid(stores, "opensearch")
    sent = 0

    def produce_some(count: int) -> None:
        nonlocal sent
        batch = [
            rollup(host, f"{host}-o{sent + i}", start - (sent + i) * 10_000)
            for i in range(count)
        ]
        stores.produce("metrics.rollup", [(key_of(r), r) for r in batch])
        sent += count

    # InfluxDB frozen for ~30 s, OpenSearch frozen for ~30 s from halfway through:
    # requests hang and time out, like a store that is down or far too slow.
    os.kill(influx, signal.SIGSTOP)
    try:
        for _ in range(3):
            produce_some(10)
            time.sleep(5)  # spreads production over the outage
        os.kill(search, signal.SIGSTOP)
        try:
            for _ in range(3):
                produce_some(10)
                time.sleep(5)
        finally:
            os.kill(influx, signal.SIGCONT)
        for _ in range(3):
            produce_some(10)
            time.sleep(5)
    finally:
        os.kill(influx, signal.SIGCONT)
        os.kill(search, signal.SIGCONT)

    wait_for(
        lambda: stores.count_docs("metrics-rollup-*", host) == sent,
        120,
        f"{sent} documents after the outage",
        every_s=1,
    )
    wait_for(
        lambda: len(stores.points("rollup_cpu", host)) == sent,
        120,
        f"{sent} points after the outage",
        every_s=1,
    )
    wait_for(lambda: stores.caught_up(ALL_SINKS), 60, "sinks to commit", every_s=1)
    assert stores.count_docs("metrics-rollup-*", host) == sent
    assert len(stores.points("rollup_cpu", host)) == sent
    assert not [k for k, _ in stores.dlq() if k.startswith(host)]
    assert (
        Path(stores.pipeline.workspace.log_of("connect"))
        .read_text()
        .count("Store not available")
    )


def test_killed_influxdb_is_restarted_and_loses_nothing(stores: Stores) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    start = window_now()
    records = [rollup(host, f"{host}-k{i}", start) for i in range(10)]
    killed = _pid(stores, "influxdb")
    os.kill(killed, signal.SIGKILL)

    # Refused connections until the supervisor has restarted InfluxDB.
    stores.produce("metrics.rollup", [(key_of(r), r) for r in records])

    def restarted() -> bool:
        influx = stores.pipeline.state().get("influxdb")
        return influx.pid != killed and influx.state == "ready"

    wait_for(restarted, 60, "InfluxDB restarted by the supervisor")
    wait_for(
        lambda: len(stores.points("rollup_cpu", host)) == 10,
        60,
        "10 points after the restart",
        every_s=1,
    )
    assert stores.count_docs("metrics-rollup-*", host) == 10
