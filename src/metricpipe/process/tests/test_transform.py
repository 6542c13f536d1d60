"""The job's transformations on small batch DataFrames (same code as the stream)."""

import datetime as dt
import json
import math
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from metricpipe.process import transform as T
from metricpipe.process.tests.conftest import FileStream

pytestmark = pytest.mark.integration

NOW = dt.datetime(2025, 12, 4, 12, 0, 0)
T0 = 1764849600000  # 2025-12-04T12:00:00Z in ms, the start of a 10 s window
SETTINGS = T.ParseSettings(
    max_message_bytes=2048,
    counter_patterns=("net.bytes_%",),
)


def metric(
    fields: dict[str, Any],
    ts: int = T0,
    name: str = "cpu",
    tags: dict[str, str] | None = None,
) -> str:
    tags = {"host": "h1"} if tags is None else tags
    return json.dumps({"name": name, "tags": tags, "fields": fields, "timestamp": ts})


def source(spark: SparkSession, payloads: list[str]) -> DataFrame:
    rows = [(bytearray(p.encode()), 0, i) for i, p in enumerate(payloads)]
    return spark.createDataFrame(rows, "value binary, partition int, offset long")


def exploded(spark: SparkSession, payloads: list[str]) -> DataFrame:
    records = T.parse_records(source(spark, payloads), SETTINGS, F.lit(NOW))
    return T.explode_fields(records, SETTINGS)


def rollups(spark: SparkSession, payloads: list[str]) -> dict[str, Row]:
    points = T.numeric_points(exploded(spark, payloads))
    rows = T.rollup(points, 10, None).collect()
    return {f"{r.series_key}@{r.window_start_ms}": r for r in rows}


def test_exact_rollup_values(spark: SparkSession) -> None:
    payloads = [
        metric({"usage": v}, T0 + i * 1000) for i, v in enumerate([3, 1, 5, 2, 4])
    ]
    payloads.append(metric({"usage": 10}, T0 + 10_000))  # next window

    got = rollups(spark, payloads)

    first = got[f"cpu,host=h1 usage@{T0}"]
    assert (first["count"], first.sum, first.mean, first.min, first.max) == (
        5,
        15.0,
        3.0,
        1.0,
        5.0,
    )
    assert first.last == 4.0  # the value with the latest event time
    assert first.stddev == pytest.approx(math.sqrt(2.0))
    assert (first.p50, first.p95, first.p99) == (3.0, 5.0, 5.0)
    assert first.window_end_ms == T0 + 10_000
    assert first.rate_per_s is None and first.is_counter is False
    second = got[f"cpu,host=h1 usage@{T0 + 10_000}"]
    assert (second["count"], second.last) == (1, 10.0)


def test_int_and_float_of_one_field_are_one_double_series(spark: SparkSession) -> None:
    got = rollups(
        spark,
        [
            metric({"v": 1}, T0),
            metric({"v": 2.5}, T0 + 1),
            metric({"v": True}, T0 + 2),
            metric({"v": 5.0}, T0 + 3),
        ],
    )
    row = got[f"cpu,host=h1 v@{T0}"]
    assert (row["count"], row.sum, row.max) == (4, 9.5, 5.0)


def test_string_field_is_counted_not_rolled_up(spark: SparkSession) -> None:
    rows = exploded(spark, [metric({"state": "running", "n": 3})]).collect()
    kinds = {r.field: r.kind for r in rows}
    assert kinds == {"state": "string", "n": "numeric"}
    assert all(r.reason is None for r in rows)
    assert list(rollups(spark, [metric({"state": "running", "n": 3})])) == [
        f"cpu,host=h1 n@{T0}"
    ]


def test_every_dlq_reason(spark: SparkSession) -> None:
    huge = metric({"pad": "x" * 3000})
    hour_ms = 3_600_000
    payloads = {
        "too_large": huge,
        "bad_json": '{"name": "cpu", ',
        "missing_name": json.dumps({"fields": {"a": 1}, "timestamp": T0}),
        "missing_timestamp": json.dumps({"name": "cpu", "fields": {"a": 1}}),
        "bad_timestamp": json.dumps(
            {"name": "c", "fields": {"a": 1}, "timestamp": "x"}
        ),
        "empty_fields": metric({}),
        "ts_future": metric({"a": 1}, T0 + hour_ms),
        "ts_past": metric({"a": 1}, T0 - 30 * 24 * hour_ms),
        "non_finite": '{"name":"cpu","fields":{"a":1e400,"ok":1},"timestamp":'
        + str(T0)
        + "}",
        "int_overflow": metric({"a": 2**63, "ok": 2}),
    }
    names = list(payloads)
    df = exploded(spark, list(payloads.values()))

    dlq = {r.offset: r for r in T.dlq_rows(df).collect()}
    assert {names[o]: r.reason for o, r in dlq.items()} == {n: n for n in names}
    assert dlq[names.index("non_finite")].field == "a"
    # One bad field never hides the good ones of the same record.
    good = T.numeric_points(df).collect()
    assert sorted((names[r.offset], r.field, r.value) for r in good) == [
        ("int_overflow", "ok", 2.0),
        ("non_finite", "ok", 1.0),
    ]

    values = [json.loads(r.value) for r in T.dlq_kafka(T.dlq_rows(df), 100).collect()]
    large = next(v for v in values if v["reason"] == "too_large")
    assert large["payload_truncated"] is True and len(large["payload"]) == 100
    assert large["source_partition"] == 0
    assert large["source_offset"] == names.index("too_large")


def test_timestamp_units(spark: SparkSession) -> None:
    for unit, ts in (("s", T0 // 1000), ("us", T0 * 1000), ("ns", T0 * 1_000_000)):
        settings = T.ParseSettings(timestamp_unit=unit)
        records = T.parse_records(
            source(spark, [metric({"a": 1}, ts)]), settings, F.lit(NOW)
        )
        row = records.collect()[0]
        assert row.reason is None
        assert row.event_ts == dt.datetime(2025, 12, 4, 12, 0, 0)


def test_tags_with_separators_make_distinct_escaped_keys(spark: SparkSession) -> None:
    a = metric({"v": 1}, tags={"host": "a b", "k": "x,y=z"})
    b = metric({"v": 2}, tags={"host": "a", "k": "b,k=x,y=z"})
    got = rollups(spark, [a, b])
    assert {k.split("@")[0] for k in got} == {
        r"cpu,host=a\ b,k=x\,y\=z v",
        r"cpu,host=a,k=b\,k\=x\,y\=z v",
    }
    ids = {r.series_id for r in got.values()}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)


def test_tag_order_does_not_change_the_series(spark: SparkSession) -> None:
    a = (
        '{"name":"m","tags":{"b":"2","a":"1"},"fields":{"v":1},"timestamp":'
        + str(T0)
        + "}"
    )
    b = (
        '{"name":"m","tags":{"a":"1","b":"2"},"fields":{"v":3},"timestamp":'
        + str(T0)
        + "}"
    )
    got = rollups(spark, [a, b])
    assert list(got) == [f"m,a=1,b=2 v@{T0}"]
    assert got[f"m,a=1,b=2 v@{T0}"]["count"] == 2


def test_counter_rate_and_reset(spark: SparkSession) -> None:
    steady = [
        metric({"bytes_recv": 1000 + 500 * i}, T0 + 2000 * i, "net") for i in range(4)
    ]
    reset = [
        metric({"bytes_recv": v}, T0 + 10_000 + 2000 * i, "net")
        for i, v in enumerate([9000, 9500, 100, 600])
    ]
    got = rollups(spark, steady + reset)

    ok = got[f"net,host=h1 bytes_recv@{T0}"]
    assert ok.is_counter and ok.rate_per_s == pytest.approx(250.0)
    after = got[f"net,host=h1 bytes_recv@{T0 + 10_000}"]
    assert after.counter_reset is True
    assert after.rate_per_s is None  # never negative, never a spike


def test_rollup_kafka_key_is_deterministic(spark: SparkSession) -> None:
    points = T.numeric_points(exploded(spark, [metric({"v": 1})]))
    rows = T.rollup_kafka(T.rollup(points, 10, None)).collect()
    sid = rows[0].key.split(":")[0]
    assert rows[0].key == f"{sid}:10:{T0}"
    value = json.loads(rows[0].value)
    assert value["rate_per_s"] is None  # null fields are kept: a stable schema
    assert value["series_key"] == "cpu,host=h1 v"


def test_late_rows_are_dropped_and_counted(file_stream: FileStream) -> None:
    settings = T.ParseSettings(max_past_skew_s=10 * 365 * 86400.0)
    records = T.parse_records(file_stream.source(), settings)
    points = T.numeric_points(T.explode_fields(records, settings))
    query = file_stream.start(T.rollup(points, 10, 5.0), "update")
    try:
        file_stream.push(query, [metric({"v": i}, T0 + i * 1000) for i in range(26)])
        # Watermark is now T0 + 20 s: window [T0, T0 + 10 s) is closed.
        file_stream.push(query, [metric({"v": 100}, T0 + 1000)])
        progress = query.recentProgress
    finally:
        query.stop()

    dropped = sum(
        op.numRowsDroppedByWatermark for p in progress for op in p.stateOperators
    )
    assert dropped == 1
    first = [
        r for batch in file_stream.batches for r in batch if r.window_start_ms == T0
    ]
    assert [r["count"] for r in first] == [10]  # the late 100 never got in


def test_every_window_size_in_one_aggregation(spark: SparkSession) -> None:
    payloads = [metric({"v": i}, T0 + i * 1000) for i in range(25)]
    points = T.numeric_points(exploded(spark, payloads))
    rows = T.rollup(points, [60, 10], None).collect()

    got = {(r.window_s, r.window_start_ms): (r["count"], r.sum) for r in rows}
    assert got == {
        (10, T0): (10, 45.0),
        (10, T0 + 10_000): (10, 145.0),
        (10, T0 + 20_000): (5, 110.0),
        # T0 is 12:00:00, so it starts a 60 s window as well.
        (60, T0): (25, 300.0),
    }
    keys = {r.key for r in T.rollup_kafka(T.rollup(points, [10, 60], None)).collect()}
    sid = rows[0].series_id
    assert f"{sid}:60:{T0}" in keys and f"{sid}:10:{T0 + 20_000}" in keys


def stream_rollup(file_stream: FileStream, dedup: bool) -> Any:
    settings = T.ParseSettings(max_past_skew_s=10 * 365 * 86400.0)
    records = T.parse_records(file_stream.source(), settings)
    points = T.numeric_points(T.explode_fields(records, settings))
    return file_stream.start(T.rollup(points, [10, 60], 5.0, dedup), "update")


def latest_rows(file_stream: FileStream) -> dict[tuple[str, int, int], Row]:
    return {
        (r.series_key, r.window_s, r.window_start_ms): r
        for batch in file_stream.batches
        for r in batch
    }


def test_a_message_delivered_twice_leaves_the_rollup_unchanged(
    file_stream: FileStream,
) -> None:
    once = [metric({"v": i, "w": 1}, T0 + i * 1000) for i in range(3)]
    query = stream_rollup(file_stream, dedup=True)
    try:
        file_stream.push(query, once)
        before = latest_rows(file_stream)
        # The same raw message again (a producer retry, a replay), and, at the
        # same timestamp, another message with another field set and one with
        # another value of v: those are different points and must count.
        file_stream.push(
            query,
            [
                once[1],
                metric({"x": 7}, T0 + 1000),
                metric({"v": 50}, T0 + 1000),
            ],
        )
    finally:
        query.stop()

    after = latest_rows(file_stream)
    assert before[("cpu,host=h1 w", 10, T0)]["count"] == 3
    assert after[("cpu,host=h1 w", 10, T0)]["count"] == 3
    assert after[("cpu,host=h1 w", 60, T0)]["count"] == 3
    assert after[("cpu,host=h1 x", 10, T0)]["count"] == 1
    v = after[("cpu,host=h1 v", 10, T0)]
    assert (v["count"], v.sum) == (4, 0 + 1 + 2 + 50.0)


def test_without_dedup_a_duplicate_counts_twice(file_stream: FileStream) -> None:
    once = [metric({"v": i}, T0 + i * 1000) for i in range(3)]
    query = stream_rollup(file_stream, dedup=False)
    try:
        file_stream.push(query, once)
        file_stream.push(query, [once[1]])
    finally:
        query.stop()
    assert latest_rows(file_stream)[("cpu,host=h1 v", 10, T0)]["count"] == 4


def test_late_points_are_dropped_and_counted_before_the_aggregation(
    file_stream: FileStream,
) -> None:
    query = stream_rollup(file_stream, dedup=True)
    try:
        file_stream.push(query, [metric({"v": i}, T0 + i * 1000) for i in range(26)])
        # The watermark is now T0 + 20 s: a point at T0 + 1 s is late, even
        # though its 60 s window is still open.
        file_stream.push(query, [metric({"v": 100}, T0 + 1000)])
        progress = query.recentProgress
    finally:
        query.stop()

    dropped = [
        op.numRowsDroppedByWatermark for p in progress for op in p.stateOperators
    ]
    assert sum(dropped) == 1
    rows = latest_rows(file_stream)
    assert rows[("cpu,host=h1 v", 10, T0)]["count"] == 10
    assert rows[("cpu,host=h1 v", 60, T0)]["count"] == 26


def test_rollup_from_raw_is_the_whole_chain(spark: SparkSession) -> None:
    payloads = [metric({"v": 1}), metric({"v": 1}), metric({"v": 3}, T0 + 1000)]
    frame = T.rollup_from_raw(
        source(spark, payloads),
        SETTINGS,
        [10],
        None,
        dedup=True,
        count_fields=True,
        now=F.lit(NOW),
    )
    [row] = frame.collect()
    assert (row["count"], row.sum, row.window_s) == (2, 4.0, 10)
