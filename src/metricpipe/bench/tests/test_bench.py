"""The bench's pieces: its report, its I/O-bound reader, and the Telegraf peer."""

import time
import uuid
from pathlib import Path

import httpx
import pytest

from metricpipe.bench import loadgen, peer, report
from metricpipe.bench.run import create_topic, freshness_rate, io_bound, make_plan
from metricpipe.testing import TestPipeline, running_pipeline

RESULTS = {
    "quick": True,
    "machine": {"cores": 2, "memory_gib": 23.0},
    "loadgen_alone": {"messages_per_s": 90_000.0},
    "io_bound": {"messages_per_s": 300_000.0, "mb_per_s": 61.5},
    "batch_ceiling": {"messages_per_s": 40_000.0, "field_values_per_s": 115_600.0},
    "pipeline": {
        "sustained_messages_per_s": 20_000,
        "sustained_field_values_per_s": 57_800.0,
        "ceiling_reached": True,
    },
    "peer": {"sustained_messages_per_s": 10_000, "ceiling_reached": False},
    "freshness": {
        "influxdb": {"n": 9, "p50_s": 2.5, "p95_s": 4.0, "p99_s": 4.25},
        "opensearch": {"n": 0, "p50_s": None, "p95_s": None, "p99_s": None},
    },
    "footprint_idle": {
        "total_rss_mib": 3000.0,
        "total_cpu_pct": 12.0,
        "services": {"kafka": {"rss_mib": 700.0, "cpu_pct": 3.0}},
    },
    "footprint_load": {"total_rss_mib": 3500.0, "total_cpu_pct": 180.0, "rate": 5000},
    "ratios": {
        "pipeline_over_io_bound": 0.067,
        "pipeline_over_batch_ceiling": 0.5,
        "pipeline_over_peer": 2.0,
    },
}


@pytest.mark.fast
def test_table_shows_every_figure_ratio_and_gap() -> None:
    table = report.markdown(RESULTS)

    for shown in ("300,000, 61.5", "40,000, 115,600", "20,000, 57,800", "0.500"):
        assert shown in table
    assert "2.000" in table and "0.067" in table
    assert "2.50 / 4.00 / 4.25, n=9" in table
    assert "n/a / n/a / n/a, n=0" in table  # a missing figure is said, not zero
    assert "10,000, n/a (highest step tried)" in table
    assert "| kafka | 700 / 3 | n/a / n/a |" in table


@pytest.mark.fast
def test_freshness_load_is_at_most_half_the_sustained_rate() -> None:
    full = make_plan(quick=False)

    assert freshness_rate(full, 40_000) == full.freshness_rate
    assert freshness_rate(full, 3_000) == 1_500
    assert freshness_rate(full, 0) == full.rates[0] // 2 > 0


@pytest.mark.fast
def test_readme_table_replaced_between_markers_only(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{report.README_START}\nold\n{report.README_END}\noutro\n"
    )

    assert report.update_readme(readme, "new table\n")
    assert readme.read_text() == (
        f"intro\n{report.README_START}\nnew table\n{report.README_END}\noutro\n"
    )
    (tmp_path / "bare.md").write_text("no markers\n")
    assert not report.update_readme(tmp_path / "bare.md", "x\n")


@pytest.mark.integration
def test_io_bound_reads_every_prefilled_message(kafka_pipeline: TestPipeline) -> None:
    bootstrap = kafka_pipeline.config.kafka.bootstrap
    topic = f"bench.io.{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, 3)
    sent = loadgen.produce(bootstrap, topic, loadgen.LoadSpec(hosts=3), 5_000)

    read = io_bound(bootstrap, topic, 5_000)

    assert read["messages"] == sent.sent == 5_000
    assert read["mb_per_s"] > 0


@pytest.mark.integration
def test_telegraf_peer_stores_basicstats_rollups(tmp_path: Path) -> None:
    with running_pipeline(tmp_path, ["kafka", "influxdb"]) as pipeline:
        config = pipeline.config
        bootstrap = config.kafka.bootstrap
        create_topic(bootstrap, "bench.peer", 3)
        influx_url = f"http://127.0.0.1:{config.store.influxdb_port}"
        peer.create_database(influx_url)
        toml = peer.peer_toml(bootstrap, "bench.peer", influx_url, window_s=2)
        process = peer.start_peer(tmp_path / "peer", toml)
        try:
            spec = loadgen.LoadSpec(hosts=2)
            step_ms = round(spec.series_count() * 1000 / 500)
            loadgen.produce(bootstrap, "bench.peer", spec, 3_000, 500, step_ms=step_ms)
            counts: list[object] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not counts:
                answer = httpx.get(
                    f"http://127.0.0.1:{config.store.influxdb_port}/query",
                    params={
                        "db": peer.PEER_DATABASE,
                        "q": 'SELECT "fields_usage_user_count" FROM "cpu"',
                    },
                    timeout=5,
                ).json()
                series = answer["results"][0].get("series") or []
                counts = [row[1] for row in series[0]["values"]] if series else []
                time.sleep(1)
        finally:
            process.terminate()
            process.wait(20)

    assert counts, "the peer stored no basicstats rollup"
    assert all(isinstance(c, int | float) and c >= 1 for c in counts)
