"""The EWMA detector: the pure scoring, then through Spark's state API."""

import json

import pytest

from metricpipe.process import transform as T
from metricpipe.process.anomaly import (
    AnomalySettings,
    Baseline,
    detect_anomalies,
    score_points,
)
from metricpipe.process.tests.conftest import FileStream

SETTINGS = AnomalySettings(alpha=0.1, threshold=4.0, min_points=10, window_s=10)
STEADY = [10.0 + (i % 3) * 0.5 for i in range(30)]


@pytest.mark.fast
def test_spike_raises_exactly_one_alert() -> None:
    values = [*STEADY, 100.0, 10.0, 10.5]

    _, alerts = score_points(Baseline(), values, SETTINGS)

    assert [a[0] for a in alerts] == [30]
    _, expected, _, score = alerts[0]
    assert 9.5 < expected < 11.0
    assert score > SETTINGS.threshold


@pytest.mark.fast
def test_plateau_after_a_step_alerts_once() -> None:
    _, alerts = score_points(Baseline(), [*STEADY, 80.0, 80.0, 80.0, 80.0], SETTINGS)
    assert len(alerts) == 1


@pytest.mark.fast
def test_no_alert_before_min_points_and_on_steady_input() -> None:
    _, early = score_points(Baseline(), [1.0, 1.0, 500.0], SETTINGS)
    _, steady = score_points(Baseline(), STEADY, SETTINGS)
    assert early == [] and steady == []


@pytest.mark.fast
def test_baseline_carries_across_batches() -> None:
    first, _ = score_points(Baseline(), STEADY[:15], SETTINGS)
    _, alerts = score_points(first, [*STEADY[15:], 100.0], SETTINGS)
    assert [a[0] for a in alerts] == [15]


@pytest.mark.integration
def test_detector_through_spark_state_api(file_stream: FileStream) -> None:
    t0 = 1764849600000
    values = [*STEADY, 100.0, 10.0]
    settings = T.ParseSettings(max_past_skew_s=10 * 365 * 86400.0)
    records = T.parse_records(file_stream.source(), settings)
    points = T.numeric_points(T.explode_fields(records, settings))
    alerts_df = detect_anomalies(points, SETTINGS, 5.0)
    # Two runs: the baseline must survive in the state store between them.
    payloads = [
        json.dumps(
            {
                "name": "cpu",
                "tags": {"host": "h1"},
                "fields": {"v": v},
                "timestamp": t0 + i * 1000,
            }
        )
        for i, v in enumerate(values)
    ]
    file_stream.write(payloads[:20])
    file_stream.run_available(alerts_df, "append")
    file_stream.write(payloads[20:])
    file_stream.run_available(alerts_df, "append")

    alerts = [row for batch in file_stream.batches for row in batch]
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.series_key, alert.value, alert.window_s) == (
        "cpu,host=h1 v",
        100.0,
        10,
    )
    assert alert.event_ts_ms == t0 + 30_000
    assert alert.window_start_ms == t0 + 30_000
    assert alert.severity == "critical" and alert.score > 8
