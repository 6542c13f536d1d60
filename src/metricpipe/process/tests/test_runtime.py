"""Startup checks: connector jars, checkpoint compatibility, derived settings."""

import json
from pathlib import Path

import pytest

from metricpipe.config import Config, validate_config
from metricpipe.errors import ConfigErrors, ProvisionError
from metricpipe.paths import Workspace
from metricpipe.process import job, runtime
from metricpipe.process.listener import min_offsets, skipped_records

pytestmark = pytest.mark.fast


def test_missing_connector_names_the_maven_coordinate(tmp_path: Path) -> None:
    (tmp_path / "kafka-clients-3.9.1.jar").write_bytes(b"")
    with pytest.raises(ProvisionError) as caught:
        runtime.connector_jars(tmp_path)
    version = runtime.pyspark_version()
    assert f"org.apache.spark:spark-sql-kafka-0-10_2.13:{version}" in str(caught.value)
    assert "metricpipe setup" in str(caught.value)


def test_connector_jars_leave_out_what_pyspark_ships(tmp_path: Path) -> None:
    version = runtime.pyspark_version()
    names = [
        f"spark-sql-kafka-0-10_2.13-{version}.jar",
        "kafka-clients-3.9.1.jar",
        "scala-library-2.13.15.jar",
        "hadoop-client-api-3.4.2.jar",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    got = [j.name for j in runtime.connector_jars(tmp_path)]
    assert got == [
        "kafka-clients-3.9.1.jar",
        f"spark-sql-kafka-0-10_2.13-{version}.jar",
    ]


def test_incompatible_checkpoint_fails_with_the_way_out(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    runtime.check_checkpoint(Config(), workspace)
    changed = validate_config({"process": {"shuffle_partitions": 8}})

    with pytest.raises(runtime.CheckpointError) as caught:
        runtime.check_checkpoint(changed, workspace)
    assert "shuffle_partitions" in str(caught.value)
    assert "process.checkpoint_version = 2" in str(caught.value)

    fresh = validate_config(
        {"process": {"shuffle_partitions": 8, "checkpoint_version": 2}}
    )
    runtime.check_checkpoint(fresh, workspace)
    assert (tmp_path / "data/spark/checkpoints/v2/metricpipe.json").exists()


def test_watermark_defaults_to_telegraf_interval_flush_and_slack() -> None:
    config = validate_config(
        {
            "collect": {"interval_s": 10, "flush_interval_s": 5},
            "process": {"watermark_slack_s": 3},
        }
    )
    assert job.watermark_s(config) == 18
    assert job.watermark_s(validate_config({"process": {"watermark_s": 7}})) == 7


def test_bad_windows_are_rejected() -> None:
    for bad in ([], [10, 10], [0]):
        with pytest.raises(ConfigErrors) as caught:
            validate_config({"process": {"window_s": bad}})
        assert caught.value.errors[0].key == "process.window_s"


def test_query_names_follow_the_config() -> None:
    config = validate_config({"process": {"window_s": [60, 10]}})
    assert job.query_names(config) == ["dlq", "rollup", "alerts"]
    config = validate_config({"process": {"anomaly_enabled": False}})
    assert job.query_names(config) == ["dlq", "rollup"]


def test_a_checkpoint_of_the_per_window_queries_asks_for_a_new_version(
    tmp_path: Path,
) -> None:
    workspace = Workspace(tmp_path)
    root = runtime.checkpoint_root(Config(), workspace)
    root.mkdir(parents=True)
    old = {**runtime.checkpoint_fingerprint(Config()), "format": 1}
    del old["dedup_enabled"]
    (root / "metricpipe.json").write_text(json.dumps(old))

    with pytest.raises(runtime.CheckpointError) as caught:
        runtime.check_checkpoint(Config(), workspace)
    assert "format" in str(caught.value)
    assert "process.checkpoint_version = 2" in str(caught.value)


def test_offsets_commit_the_smallest_end_over_queries() -> None:
    merged = min_offsets(
        {
            "dlq": {"metrics.raw": {"0": 10, "1": 7}},
            "rollup": {"metrics.raw": {"0": 8, "1": 9, "2": 3}},
        }
    )
    assert merged == {
        ("metrics.raw", 0): 8,
        ("metrics.raw", 1): 7,
        ("metrics.raw", 2): 3,
    }


@pytest.mark.fast
def test_only_sparks_progress_metrics_bug_is_restarted_in_process() -> None:
    from metricpipe.process.job import _is_progress_metrics_bug

    bug = RuntimeError(
        'java.lang.NullPointerException: Cannot invoke "scala.collection.IterableOps'
        '.map(scala.Function1)" because the return value of "scala.Option.get()" '
        "is null"
    )
    other = RuntimeError("java.lang.NullPointerException: something else")

    assert _is_progress_metrics_bug(bug)
    assert not _is_progress_metrics_bug(other)


def test_skipped_records_are_the_range_minus_the_rows_read() -> None:
    start = json.dumps({"metrics.raw": {"0": 100, "1": 50}})
    end = json.dumps({"metrics.raw": {"0": 300, "1": 60, "2": 7}})
    # 210 offsets in the known partitions; partition 2 is new, read from its
    # earliest offset, and left out of the range (its rows are not).
    assert skipped_records(start, end, 210) == 0
    assert skipped_records(start, end, 217) == 0
    assert skipped_records(start, end, 30) == 180
    assert skipped_records(None, end, 0) == 0  # a fresh checkpoint's first batch
    # PySpark's text for a Java null, seen on the first batch of every query.
    assert skipped_records("None", end, 0) == 0
    assert skipped_records("null", end, 0) == 0
