"""The job's transformations, as plain DataFrame functions.

The streaming queries and the tests call the same functions: a test builds a
small batch DataFrame with the Kafka source's columns (``value``, ``partition``,
``offset``) and gets exactly what the stream would compute. Everything on the hot
path runs in the JVM: JSON is parsed to Spark's VARIANT type, and each field value
is classified by its variant type, so one bad field never hides the others.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from metricpipe.process.config import ProcessConfig

log = logging.getLogger(__name__)

#: Why a raw record (or one of its fields) went to the DLQ; see README.md.
DLQ_REASONS = (
    "too_large",
    "bad_json",
    "missing_name",
    "missing_timestamp",
    "bad_timestamp",
    "empty_fields",
    "ts_future",
    "ts_past",
    "non_finite",
    "int_overflow",
)

#: Microseconds per unit of the Telegraf timestamp.
UNIT_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}


@dataclass(frozen=True)
class ParseSettings:
    """The part of the config the parser needs; plain values, easy to test."""

    timestamp_unit: str = "ms"
    max_message_bytes: int = 65536
    max_future_skew_s: float = 300.0
    max_past_skew_s: float = 7 * 86400.0
    counter_patterns: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: ProcessConfig) -> "ParseSettings":
        return cls(
            timestamp_unit=config.timestamp_unit,
            max_message_bytes=config.max_message_bytes,
            max_future_skew_s=config.max_future_skew_s,
            max_past_skew_s=config.max_past_skew_s,
            counter_patterns=tuple(config.counter_patterns),
        )


def _escape(column: Column) -> Column:
    """Backslash-escape the separators of the series key: \\ , = and space."""
    return F.regexp_replace(column, r"([\\,= ])", r"\\$1")


def series_key(name: Column, tags: Column, field: Column) -> Column:
    """``measurement,tag1=v1,tag2=v2 field`` with tags sorted by key.

    Line-protocol style: backslash escapes ``\\``, ``,``, ``=`` and space in every
    part, so distinct series never share a key.
    """
    pairs = F.transform(
        F.array_sort(F.map_entries(F.coalesce(tags, F.create_map()))),
        lambda e: F.concat(_escape(e["key"]), F.lit("="), _escape(e["value"])),
    )
    head = F.concat_ws(",", F.array_union(F.array(_escape(name)), pairs))
    return F.concat(head, F.lit(" "), _escape(field))


def series_id(key: Column) -> Column:
    """First 32 hex digits of the SHA-256 of the series key: stable, short."""
    return F.substring(F.sha2(key, 256), 1, 32)


def parse_records(
    source: DataFrame, settings: ParseSettings, now: Column | None = None
) -> DataFrame:
    """One row per raw record with its parsed parts and a record-level reason.

    ``source`` has the Kafka source's ``value`` (binary), ``partition`` and
    ``offset``. ``now`` is the clock the skew check uses (the batch's
    ``current_timestamp()`` by default; tests pass a literal).
    """
    clock = now if now is not None else F.current_timestamp()
    size = F.octet_length(F.col("value"))
    raw = F.col("value").cast("string")

    # Too large records are not parsed at all: that is the point of the limit.
    doc = F.when(size <= settings.max_message_bytes, F.try_parse_json(raw))
    ts_present = F.try_variant_get(doc, "$.timestamp", "string").isNotNull()
    ts_number = F.try_variant_get(doc, "$.timestamp", "decimal(38,9)")
    # Scaled in doubles and clamped: a timestamp in a finer unit than configured
    # (nanoseconds read as milliseconds) must not wrap around 64 bits into a
    # plausible date. Clamped, it lands far in the future and is rejected as
    # ts_future. Doubles hold every microsecond exactly up to year 2255.
    scaled = ts_number.cast("double") * F.lit(
        float(UNIT_MICROS[settings.timestamp_unit])
    )
    # greatest/least skip nulls: a missing number must stay null (bad_timestamp).
    clamped = F.least(F.greatest(scaled, F.lit(-9.0e18)), F.lit(9.0e18))
    micros = F.when(scaled.isNotNull(), clamped).cast("long")
    event_ts = F.timestamp_micros(micros)
    fields = F.try_variant_get(doc, "$.fields", "map<string,variant>")

    parsed = source.select(
        raw.alias("raw"),
        size.alias("size"),
        F.col("partition"),
        F.col("offset"),
        doc.alias("doc"),
        F.try_variant_get(doc, "$.name", "string").alias("name"),
        F.try_variant_get(doc, "$.tags", "map<string,string>").alias("tags"),
        fields.alias("fields"),
        ts_present.alias("ts_present"),
        event_ts.alias("event_ts"),
        clock.alias("now"),
    )

    future = F.col("now") + F.expr(
        f"make_dt_interval(0, 0, 0, {settings.max_future_skew_s})"
    )
    past = F.col("now") - F.expr(
        f"make_dt_interval(0, 0, 0, {settings.max_past_skew_s})"
    )
    reason = (
        F.when(F.col("size") > settings.max_message_bytes, "too_large")
        .when(F.col("doc").isNull(), "bad_json")
        .when(F.coalesce(F.col("name"), F.lit("")) == "", "missing_name")
        .when(~F.col("ts_present"), "missing_timestamp")
        .when(F.col("event_ts").isNull(), "bad_timestamp")
        .when(F.coalesce(F.size("fields"), F.lit(0)) <= 0, "empty_fields")
        .when(F.col("event_ts") > future, "ts_future")
        .when(F.col("event_ts") < past, "ts_past")
    )
    return parsed.withColumn("reason", reason).drop("doc", "ts_present", "now")


def explode_fields(records: DataFrame, settings: ParseSettings) -> DataFrame:
    """One row per field of each accepted record, or one row per rejected record.

    Columns: the record's ``raw``, ``partition``, ``offset``, ``name``, ``tags``,
    ``event_ts``, then ``field``, ``kind`` (numeric, string, other, or null on a
    rejected record), ``value`` (double, for numeric) and ``reason`` (the record's
    or the field's DLQ reason, null when accepted).
    """
    # A rejected record keeps one row (explode_outer of null) and no fields.
    rows = records.withColumn(
        "fields", F.when(F.col("reason").isNull(), F.col("fields"))
    ).select("*", F.explode_outer("fields").alias("field", "fv"))

    vtype = F.schema_of_variant(F.col("fv"))
    as_double = F.try_variant_get(F.col("fv"), "$", "double")
    is_decimal_int = vtype.startswith("DECIMAL(") & vtype.endswith(",0)")
    int_overflow = (
        is_decimal_int & F.try_variant_get(F.col("fv"), "$", "bigint").isNull()
    )
    non_finite = F.isnan(as_double) | (F.abs(as_double) == F.lit(float("inf")))
    numeric = vtype.isin(
        "BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "BOOLEAN"
    ) | vtype.startswith("DECIMAL(")

    field_reason = (
        F.when(F.col("fv").isNull(), None)
        .when(int_overflow, "int_overflow")
        .when(numeric & non_finite, "non_finite")
    )
    kind = (
        F.when(F.col("fv").isNull(), None)
        .when(numeric, "numeric")
        .when(vtype == "STRING", "string")
        .otherwise("other")
    )
    full = F.concat(F.col("name"), F.lit("."), F.col("field"))
    is_counter = F.lit(False)
    for pattern in settings.counter_patterns:
        is_counter = is_counter | full.like(pattern)

    return rows.select(
        "raw",
        "partition",
        "offset",
        "name",
        "tags",
        "event_ts",
        "field",
        kind.alias("kind"),
        F.when(numeric & field_reason.isNull(), as_double).alias("value"),
        F.coalesce(F.col("reason"), field_reason).alias("reason"),
        is_counter.alias("is_counter"),
    )


def dlq_rows(exploded: DataFrame) -> DataFrame:
    """The DLQ records: payload, reason, field (if any) and source position."""
    return exploded.where(F.col("reason").isNotNull()).select(
        "raw", "reason", "field", "partition", "offset"
    )


def numeric_points(exploded: DataFrame) -> DataFrame:
    """Accepted numeric field values with their series identity."""
    key = series_key(F.col("name"), F.col("tags"), F.col("field"))
    return exploded.where(
        F.col("reason").isNull() & (F.col("kind") == "numeric")
    ).select(
        series_id(key).alias("series_id"),
        key.alias("series_key"),
        "name",
        "tags",
        "field",
        "event_ts",
        "value",
        "is_counter",
        "partition",
        "offset",
    )


#: Spark's column-metadata key that marks an event-time column for the watermark
#: (``EventTimeWatermark.delayKey``); ``F.window`` sets it on its window struct.
WATERMARK_DELAY_KEY = "spark.watermarkDelayMs"

#: What makes two points the same point: an exact duplicate (the same raw message
#: delivered twice) has the same series, event time and value. The value is part
#: of it so that a different value for one series at one timestamp is kept.
DEDUP_COLUMNS = ("series_id", "event_ts", "value")


def rollup(
    points: DataFrame,
    window_s: int | Sequence[int],
    watermark_s: float | None,
    dedup: bool = False,
) -> DataFrame:
    """Tumbling event-time window statistics per series, for every window size.

    One aggregation for all sizes: each point is repeated once per configured
    window size (``window_s`` column), and one groupBy over the series, the
    window size and the window end keeps every window's state in one state store.
    ``watermark_s`` None skips the watermark (batch use, tests). ``dedup`` drops
    exact duplicate points (:data:`DEDUP_COLUMNS`) first: within the watermark
    on a stream, over the whole frame in a batch.
    """
    sizes = sorted({window_s} if isinstance(window_s, int) else set(window_s))
    delay_ms = None if watermark_s is None else int(watermark_s * 1000)
    if delay_ms is not None:
        points = points.withWatermark("event_ts", f"{delay_ms} milliseconds")
        if dedup:
            # Also drops (and counts, numRowsDroppedByWatermark) every point
            # older than the watermark: the one place late points are counted.
            points = points.dropDuplicatesWithinWatermark(list(DEDUP_COLUMNS))
    elif dedup:
        points = points.dropDuplicates(list(DEDUP_COLUMNS))

    micros = F.unix_micros("event_ts")
    size_us = F.col("window_s").cast("long") * F.lit(1_000_000)
    start_us = micros - F.pmod(micros, size_us)
    end = F.timestamp_micros(start_us + size_us)
    event_ts = F.col("event_ts")
    if delay_ms is not None:
        # The window end becomes the event-time column of the aggregation, as
        # F.window's struct does (F.window takes one literal size only): state
        # of a window is evicted, and points of it dropped as late, once the
        # watermark (still computed from event_ts) passes the window's end. The
        # point's own time gets other metadata, so it is not taken for one.
        end = end.alias("window_end", metadata={WATERMARK_DELAY_KEY: delay_ms})
        event_ts = event_ts.alias("event_ts", metadata={"metricpipe": "point time"})
    else:
        end = end.alias("window_end")
    per_window = points.select(
        "*", F.explode(F.array(*[F.lit(w) for w in sizes])).alias("window_s")
    ).select(
        "series_id",
        "series_key",
        "name",
        "tags",
        "field",
        "is_counter",
        "value",
        "partition",
        "offset",
        "window_s",
        event_ts,
        end,
    )

    # Ties on event time are broken by the Kafka position, so "last" is stable.
    order = F.struct("event_ts", "partition", "offset")
    grouped = per_window.groupBy(
        "series_id",
        "window_s",
        "window_end",
        "series_key",
        "name",
        "field",
        "is_counter",
    ).agg(
        F.first("tags").alias("tags"),
        F.count("value").alias("count"),
        F.sum("value").alias("sum"),
        F.avg("value").alias("mean"),
        F.min("value").alias("min"),
        F.max("value").alias("max"),
        F.max_by("value", order).alias("last"),
        F.min_by("value", order).alias("first"),
        F.stddev_pop("value").alias("stddev"),
        F.percentile_approx("value", [0.5, 0.95, 0.99], 10000).alias("pct"),
        F.min("event_ts").alias("first_ts"),
        F.max("event_ts").alias("last_ts"),
    )

    # A counter's rate from the first and last points of the window. A reset
    # (last < first) gives no rate rather than a negative or huge one.
    span_s = F.unix_micros("last_ts") - F.unix_micros("first_ts")
    rate = F.when(
        F.col("is_counter") & (span_s > 0) & (F.col("last") >= F.col("first")),
        (F.col("last") - F.col("first")) / (span_s / F.lit(1_000_000.0)),
    )
    end_ms = F.unix_millis(F.col("window_end"))
    return grouped.select(
        "series_id",
        "series_key",
        "name",
        "tags",
        "field",
        F.col("window_s").cast("int").alias("window_s"),
        (end_ms - F.col("window_s") * 1000).alias("window_start_ms"),
        end_ms.alias("window_end_ms"),
        "count",
        "sum",
        "mean",
        "min",
        "max",
        "last",
        "stddev",
        F.col("pct")[0].alias("p50"),
        F.col("pct")[1].alias("p95"),
        F.col("pct")[2].alias("p99"),
        "is_counter",
        rate.alias("rate_per_s"),
        (F.col("is_counter") & (F.col("last") < F.col("first"))).alias("counter_reset"),
    )


def rollup_from_raw(
    source: DataFrame,
    settings: ParseSettings,
    window_s: int | Sequence[int],
    watermark_s: float | None,
    dedup: bool = False,
    count_fields: bool = False,
    now: Column | None = None,
) -> DataFrame:
    """The rollup rows from a Kafka-shaped frame (``value``, ``partition``,
    ``offset``): what the job's ``rollup`` query computes, on a stream or a batch.

    ``count_fields`` adds the ``fields`` observation (numeric, string and other
    field counts per batch) the job publishes; ``now`` is the skew check's clock
    (see :func:`parse_records`).
    """
    exploded = explode_fields(parse_records(source, settings, now), settings)
    if count_fields:
        # String and other non-numeric fields are not rolled up, but counted.
        exploded = exploded.observe(
            "fields",
            *[
                F.count_if(F.col("kind") == k).alias(k)
                for k in ("numeric", "string", "other")
            ],
        )
    return rollup(numeric_points(exploded), window_s, watermark_s, dedup)


#: Internal column -> name in the published JSON (the store stage's schema).
PUBLISHED_NAMES = {
    "name": "measurement",
    "window_start_ms": "window_start",
    "window_end_ms": "window_end",
}


def published(frame: DataFrame) -> list[Column]:
    """The columns of ``frame`` under their documented output names."""
    return [F.col(c).alias(PUBLISHED_NAMES.get(c, c)) for c in frame.columns]


def rollup_kafka(rollups: DataFrame) -> DataFrame:
    """Key = ``<series_id>:<window_s>:<window_start_ms>``; value = the JSON row."""
    key = F.concat_ws(
        ":",
        "series_id",
        F.col("window_s").cast("string"),
        F.col("window_start_ms").cast("string"),
    )
    return rollups.select(
        key.alias("key"),
        # Null fields are kept, so every record has the same documented shape.
        F.to_json(F.struct(*published(rollups)), {"ignoreNullFields": "false"}).alias(
            "value"
        ),
    )


def dlq_kafka(dlq: DataFrame, max_payload_chars: int = 65536) -> DataFrame:
    """Key = ``<partition>:<offset>[:<field>]``; value = the JSON row.

    Payloads over ``max_payload_chars`` are cut, so a too_large record still fits
    the DLQ topic; ``payload_truncated`` says so.
    """
    # The field is part of the key: one record can have several bad fields.
    key = F.concat_ws(
        ":",
        F.col("partition").cast("string"),
        F.col("offset").cast("string"),
        F.col("field"),
    )
    payload = F.when(
        F.length("raw") > max_payload_chars,
        F.substring("raw", 1, max_payload_chars),
    ).otherwise(F.col("raw"))
    value = F.to_json(
        F.struct(
            F.col("reason"),
            F.col("field"),
            F.col("partition").alias("source_partition"),
            F.col("offset").alias("source_offset"),
            payload.alias("payload"),
            (F.length("raw") > max_payload_chars).alias("payload_truncated"),
        ),
        {"ignoreNullFields": "false"},
    )
    return dlq.select(key.alias("key"), value.alias("value"))
