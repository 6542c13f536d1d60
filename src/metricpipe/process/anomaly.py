"""Per-series anomaly detection: an EWMA mean/variance baseline in Spark state.

Each series keeps ``(count, mean, var, in_alert)`` in the state store (RocksDB in
the job), in one state row per bucket of series (the first hex digits of its
id). A point scores ``|value - mean| / sqrt(var)`` against the baseline
*before* the point is folded in; crossing ``threshold`` from below emits one
alert, and the series must fall back under the threshold before it can alert
again, so a plateau after a step does not alert on every point. Idle series are
dropped once the watermark passes their last point + an idle timeout.
"""

import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from metricpipe.process.transform import published

log = logging.getLogger(__name__)

#: One state row per bucket of series: a JSON object of every series' baseline.
#: Per-series groups made the Python worker's per-group overhead most of the
#: job's CPU; a bucket amortizes it over ~BUCKETS-th of the series.
STATE_SCHEMA = "series string"
#: Buckets = the first BUCKET_DIGITS hex digits of series_id (16 ** 2 = 256).
BUCKET_DIGITS = 2
ALERT_SCHEMA = (
    "series_id string, series_key string, name string, field string, "
    "event_ts_ms long, window_start_ms long, window_s long, value double, "
    "expected double, stddev double, score double, severity string"
)


@dataclass
class Baseline:
    count: int = 0
    mean: float = 0.0
    var: float = 0.0
    in_alert: bool = False


@dataclass(frozen=True)
class AnomalySettings:
    alpha: float = 0.1
    threshold: float = 4.0
    min_points: int = 10
    idle_timeout_s: float = 3600.0
    window_s: int = 10
    measurements: tuple[str, ...] = ("*",)
    #: The spread assumed at least, relative to the mean: a series that was flat
    #: alerts when it moves by more than threshold x 1 % of its level, not on
    #: every change of the last digit.
    relative_floor: float = 0.01


def score_points(
    baseline: Baseline, values: list[float], settings: AnomalySettings
) -> tuple[Baseline, list[tuple[int, float, float, float]]]:
    """Fold ``values`` (in event-time order) into the baseline.

    Returns the new baseline and one ``(index, expected, stddev, score)`` per
    alert raised.
    """
    alerts: list[tuple[int, float, float, float]] = []
    b = Baseline(baseline.count, baseline.mean, baseline.var, baseline.in_alert)
    for index, value in enumerate(values):
        if b.count == 0:
            b.count, b.mean, b.var = 1, value, 0.0
            continue

        diff = value - b.mean
        std = math.sqrt(b.var)
        # A flat baseline (std 0) gives an infinite score for any change; the
        # floor keeps a constant series from alerting on tiny jitter.
        floor = max(std, settings.relative_floor * max(1.0, abs(b.mean)))
        score = abs(diff) / floor if b.count >= settings.min_points else 0.0
        over = score > settings.threshold
        if over and not b.in_alert:
            alerts.append((index, b.mean, std, score))
        b.in_alert = over

        # West's EWMA of mean and variance.
        b.mean += settings.alpha * diff
        b.var = (1 - settings.alpha) * (b.var + settings.alpha * diff * diff)
        b.count += 1
    return b, alerts


def _severity(score: float, threshold: float) -> str:
    return "critical" if score >= 2 * threshold else "warning"


def make_detector(settings: AnomalySettings) -> Any:
    """The function given to ``applyInPandasWithState``, once per bucket."""
    from pyspark.sql.streaming.state import GroupState

    timeout_ms = int(settings.idle_timeout_s * 1000)
    window_ms = settings.window_s * 1000

    def detect(
        key: tuple[str], frames: Iterator[pd.DataFrame], state: GroupState
    ) -> Iterator[pd.DataFrame]:
        if state.hasTimedOut:
            state.remove()  # every series of the bucket has been idle
            return

        # {series_id: [count, mean, var, in_alert, last_event_ts_ms]}
        saved: dict[str, list[Any]] = json.loads(state.get[0]) if state.exists else {}
        chunks = list(frames)
        points = chunks[0] if len(chunks) == 1 else pd.concat(chunks)
        # One sort per bucket, then each series is a contiguous run: plain numpy
        # on the hot path, pandas per series costs more than the scoring.
        ids = points["series_id"].to_numpy()
        ts = points["event_ts_ms"].to_numpy()
        order = np.lexsort((points["offset"].to_numpy(), ts, ids))
        ids, ts = ids[order], ts[order]
        values = points["value"].to_numpy()[order]
        bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        rows = []
        for begin, end in zip(
            [0, *bounds.tolist()], [*bounds.tolist(), len(ids)], strict=True
        ):
            series = str(ids[begin])
            before = saved.get(series)
            baseline = Baseline(*before[:4]) if before else Baseline()
            baseline, alerts = score_points(
                baseline, values[begin:end].tolist(), settings
            )
            saved[series] = [
                baseline.count,
                baseline.mean,
                baseline.var,
                baseline.in_alert,
                int(ts[end - 1]),
            ]
            for index, expected, std, score in alerts:
                point = points.iloc[int(order[begin + index])]
                ts_ms = int(point["event_ts_ms"])
                rows.append(
                    {
                        "series_id": series,
                        "series_key": point["series_key"],
                        "name": point["name"],
                        "field": point["field"],
                        "event_ts_ms": ts_ms,
                        "window_start_ms": ts_ms - ts_ms % window_ms,
                        "window_s": settings.window_s,
                        "value": float(point["value"]),
                        "expected": expected,
                        "stddev": std,
                        "score": score,
                        "severity": _severity(score, settings.threshold),
                    }
                )

        # A series idle for the timeout (in event time, past the watermark) is
        # dropped; the bucket expires once its last series would be.
        watermark = state.getCurrentWatermarkMs()
        saved = {k: v for k, v in saved.items() if v[4] + timeout_ms > watermark}
        if not saved:
            state.remove()
            yield from [pd.DataFrame(rows)] if rows else []
            return
        state.update((json.dumps(saved),))
        # (A processing-time timeout would make Spark run a no-data batch at
        # every trigger, forever.)
        state.setTimeoutTimestamp(max(v[4] for v in saved.values()) + timeout_ms)
        if rows:
            yield pd.DataFrame(rows)

    return detect


def detect_anomalies(
    points: DataFrame, settings: AnomalySettings, watermark_s: float
) -> DataFrame:
    """Alerts from numeric points (see :func:`metricpipe.process.transform`)."""
    wanted = F.lit(False)
    for pattern in settings.measurements:
        # Glob to SQL LIKE: the patterns are plain names with * wildcards.
        like = pattern.replace("_", "\\_").replace("*", "%")
        wanted = wanted | F.col("name").like(like)
    points = points.where(wanted & ~F.col("is_counter"))
    slim = points.withWatermark(
        "event_ts", f"{int(watermark_s * 1000)} milliseconds"
    ).select(
        "series_id",
        "series_key",
        "name",
        "field",
        F.unix_millis("event_ts").alias("event_ts_ms"),
        # Kept (unused by the detector) so the watermark stays on the plan.
        "event_ts",
        "offset",
        "value",
    )
    bucket = F.substring("series_id", 1, BUCKET_DIGITS)
    return (
        slim.withColumn("bucket", bucket)
        .groupBy("bucket")
        .applyInPandasWithState(
            make_detector(settings),
            outputStructType=ALERT_SCHEMA,
            stateStructType=STATE_SCHEMA,
            outputMode="append",
            timeoutConf="EventTimeTimeout",
        )
    )


def alerts_kafka(alerts: DataFrame) -> DataFrame:
    """Key = ``<series_id>:<event_ts_ms>``; value = the JSON row."""
    key = F.concat_ws(":", "series_id", F.col("event_ts_ms").cast("string"))
    window_end = (F.col("window_start_ms") + F.col("window_s") * 1000).alias(
        "window_end"
    )
    return alerts.select(
        key.alias("key"),
        F.to_json(F.struct(*published(alerts), window_end)).alias("value"),
    )
