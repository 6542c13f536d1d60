"""Per-series anomaly detection: an EWMA mean/variance baseline in Spark state.

Each series keeps ``(count, mean, var, in_alert)`` in the state store (RocksDB in
the job). A point scores ``|value - mean| / sqrt(var)`` against the baseline
*before* the point is folded in; crossing ``threshold`` from below emits one
alert, and the series must fall back under the threshold before it can alert
again, so a plateau after a step does not alert on every point. Idle series are
dropped once the watermark passes their last point + an idle timeout.
"""

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

STATE_SCHEMA = "count long, mean double, var double, in_alert boolean"
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
    """The function given to ``applyInPandasWithState``."""
    from pyspark.sql.streaming.state import GroupState

    timeout_ms = int(settings.idle_timeout_s * 1000)
    window_ms = settings.window_s * 1000

    def detect(
        key: tuple[str], frames: Iterator[pd.DataFrame], state: GroupState
    ) -> Iterator[pd.DataFrame]:
        if state.hasTimedOut:
            state.remove()
            return

        baseline = Baseline(*state.get) if state.exists else Baseline()
        # Plain numpy on the hot path: this runs once per series and batch, and
        # pandas' concat/sort_values cost ~0.7 ms a group, most of the query.
        chunks = list(frames)
        points = chunks[0] if len(chunks) == 1 else pd.concat(chunks)
        ts = points["event_ts_ms"].to_numpy()
        order = np.lexsort((points["offset"].to_numpy(), ts))
        values = points["value"].to_numpy()[order].tolist()
        baseline, alerts = score_points(baseline, values, settings)
        state.update((baseline.count, baseline.mean, baseline.var, baseline.in_alert))
        # Event-time timeout: the series expires once the watermark passes its
        # last point + the idle timeout. (A processing-time timeout would make
        # Spark run a no-data batch at every trigger, forever.)
        state.setTimeoutTimestamp(int(ts.max()) + timeout_ms)

        if not alerts:
            return
        rows = []
        for index, expected, std, score in alerts:
            point = points.iloc[int(order[index])]
            ts_ms = int(point["event_ts_ms"])
            rows.append(
                {
                    "series_id": key[0],
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
    return slim.groupBy("series_id").applyInPandasWithState(
        make_detector(settings),
        outputStructType=ALERT_SCHEMA,
        stateStructType=STATE_SCHEMA,
        outputMode="append",
        timeoutConf="EventTimeTimeout",
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
