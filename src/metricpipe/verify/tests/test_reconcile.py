"""The reconciliation's expected rollups and verdicts.

The series key and window alignment are checked against the job's own Spark
functions on the same records, so the Python copy cannot drift from the job.
"""

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metricpipe.process.transform import (
    ParseSettings,
    explode_fields,
    numeric_points,
    parse_records,
    rollup,
)
from metricpipe.verify.reconcile import (
    Expected,
    Stored,
    reconcile,
    series_id,
    series_key,
    window_start_ms,
)

NOW_MS = 1_764_000_000_000

RECORDS: list[dict[str, Any]] = [
    {
        "name": "cpu",
        "tags": {"host": "h 1", "cpu": "cpu,0", "z=": "\\x"},
        "fields": {"usage": 1.5, "flag": True, "mode": "idle", "n": 3},
        "timestamp": NOW_MS - 12_345,
    },
    {
        "name": "cpu",
        "tags": {"cpu": "cpu,0", "host": "h 1", "z=": "\\x"},
        "fields": {"usage": 2.25, "flag": False, "n": 7},
        "timestamp": NOW_MS - 4_001,
    },
    {
        "name": "m e",
        "tags": {},
        "fields": {"v": -1e300, "arr": [1], "nothing": None},
        "timestamp": NOW_MS - 4_000,
    },
]


def expected_of(records: list[dict[str, Any]], windows: list[int]) -> Expected:
    expected = Expected(windows)
    for record in records:
        expected.add(record)
    return expected


@pytest.mark.fast
def test_series_key_escapes_and_sorts_tags() -> None:
    key = series_key("m e", {"b": "x,y", "a": "1=2"}, "f\\g")
    assert key == "m\\ e,a=1\\=2,b=x\\,y f\\\\g"
    assert len(series_id(key)) == 32


@pytest.mark.fast
def test_window_start_is_epoch_aligned() -> None:
    assert window_start_ms(25_999, 10) == 20_000
    assert window_start_ms(30_000, 10) == 30_000


@pytest.mark.fast
def test_expected_rolls_up_numbers_only_per_window() -> None:
    expected = expected_of(RECORDS, [10, 60])

    # cpu: usage, flag, n (mode is a string) in two 10 s windows, one 60 s
    # window; "m e": v only (array and null are not numbers).
    ten = [k for k in expected.rollups if k[1] == 10]
    assert len(ten) == 3 * 2 + 1
    sixty = {
        expected.rollups[k].field: expected.rollups[k]
        for k in expected.rollups
        if k[1] == 60 and expected.rollups[k].measurement == "cpu"
    }
    assert sixty["n"].count == 2 and sixty["n"].sum == 10.0
    assert (sixty["flag"].min, sixty["flag"].max) == (0.0, 1.0)


def stored_from(expected: Expected) -> Stored:
    stored = Stored("test")
    for key, stats in expected.rollups.items():
        stored.add(
            key,
            {
                "count": stats.count,
                "sum": stats.sum,
                "min": stats.min,
                "max": stats.max,
            },
        )
    return stored


@pytest.mark.fast
def test_reconcile_passes_exact_copies_and_tolerates_rounding() -> None:
    expected = expected_of(RECORDS, [10])
    stored = stored_from(expected)
    for copies in stored.copies.values():
        copies[0]["sum"] *= 1 + 1e-12

    report = reconcile(expected.rollups, stored, (0, NOW_MS))

    assert report.ok, report.examples
    assert report.expected == len(expected.rollups)


@pytest.mark.fast
def test_reconcile_counts_every_kind_of_mismatch() -> None:
    expected = expected_of(RECORDS, [10])
    keys = sorted(expected.rollups)
    stored = stored_from(expected)
    del stored.copies[keys[0]]  # missing
    stored.copies[keys[1]].append(dict(stored.copies[keys[1]][0]))  # two copies
    stored.copies[keys[2]][0]["count"] += 1  # counted twice: duplicated
    stored.copies[keys[3]][0]["count"] -= 1  # a point lost
    stored.copies[keys[4]][0]["max"] = 1e9  # wrong value
    stray = (keys[5][0], 10, keys[5][2] - 1_000_000)
    stored.add(stray, {"count": 1, "sum": 1.0, "min": 1.0, "max": 1.0})

    report = reconcile(expected.rollups, stored, (0, NOW_MS))

    assert not report.ok
    assert (report.missing, report.duplicated, report.count_mismatch) == (1, 2, 1)
    assert (report.value_mismatch, report.unexpected) == (1, 1)
    assert len(report.examples) == 5


@pytest.mark.fast
def test_closed_keeps_windows_ended_by_the_watermark() -> None:
    expected = expected_of(RECORDS, [10])
    closed = expected.closed(window_start_ms(NOW_MS - 4_000, 10))
    assert {k[2] for k in closed} == {window_start_ms(NOW_MS - 12_345, 10)}


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    local: Path = tmp_path_factory.mktemp("spark-local")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("metricpipe-reconcile-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.local.dir", str(local))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_python_rollups_agree_with_the_jobs_spark_functions(spark: Any) -> None:
    from pyspark.sql import functions as F

    rows = [(json.dumps(r).encode(), 0, offset) for offset, r in enumerate(RECORDS)]
    source = spark.createDataFrame(rows, "value binary, partition int, offset long")
    settings = ParseSettings()
    points = numeric_points(
        explode_fields(
            parse_records(source, settings, now=F.lit(NOW_MS / 1000).cast("timestamp")),
            settings,
        )
    )
    spark_rollups = {
        (r["series_id"], r["window_s"], r["window_start_ms"]): r
        for r in rollup(points, 10, None).collect()
    }

    expected = expected_of(RECORDS, [10]).rollups
    assert set(spark_rollups) == set(expected)
    for key, stats in expected.items():
        got = spark_rollups[key]
        assert got["series_key"] == series_key(
            stats.measurement, stats.tags, stats.field
        )
        assert (got["count"], got["sum"], got["min"], got["max"]) == (
            stats.count,
            stats.sum,
            stats.min,
            stats.max,
        )
