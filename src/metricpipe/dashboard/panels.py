"""The one catalogue of panels, shared by the Grafana generator and the live page.

Each InfluxDB panel holds fixed InfluxQL written with Grafana's own placeholders
(``$timeFilter``, ``$__interval``, ``$__interval_ms``, ``$host``, ``$group``), so
the generated Grafana dashboards and the built-in server run the very same text:
Grafana substitutes the placeholders itself, the server through
:func:`metricpipe.dashboard.queries.render`, which accepts only validated values.
"""

from dataclasses import dataclass
from typing import Literal

from metricpipe.dashboard import schema as s

View = Literal["hosts", "pipeline", "lag", "alerts"]
Source = Literal["influxdb", "search"]
Kind = Literal["timeseries", "state"]

VIEWS: dict[View, str] = {
    "hosts": "Hosts",
    "pipeline": "Pipeline",
    "lag": "Consumer lag",
    "alerts": "Alerts",
}


@dataclass(frozen=True)
class Query:
    ref: str
    influxql: str


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    view: View
    unit: str
    queries: tuple[Query, ...] = ()
    source: Source = "influxdb"
    kind: Kind = "timeseries"
    description: str = ""


def _from(db: str, measurement: str) -> str:
    # db..measurement is the database's default retention policy, whatever the
    # store stage names it.
    return f'"{db}".."{measurement}"'


def _rollup(
    measurement: str,
    select: str,
    where: str,
    group_by: tuple[str, ...] = (s.TAG_HOST,),
) -> str:
    tags = "".join(f', "{tag}"' for tag in group_by)
    return (
        f"SELECT {select} FROM {_from(s.METRICS_DB, measurement)} "
        f'WHERE {where} AND "{s.TAG_HOST}" =~ /^$host$/ AND $timeFilter '
        f"GROUP BY time($__interval){tags} fill(none)"
    )


def _pipeline(
    measurement: str, select: str, group_by: tuple[str, ...] = (), where: str = ""
) -> str:
    tags = "".join(f', "{tag}"' for tag in group_by)
    condition = f"{where} AND $timeFilter" if where else "$timeFilter"
    return (
        f"SELECT {select} FROM {_from(s.PIPELINE_DB, measurement)} "
        f"WHERE {condition} GROUP BY time($__interval){tags} fill(none)"
    )


def _field_is(name: str) -> str:
    return f"\"{s.TAG_FIELD}\" = '{name}'"


def _field_in(names: tuple[str, ...]) -> str:
    return f'"{s.TAG_FIELD}" =~ /^({"|".join(names)})$/'


_GROUP_FILTER = f'"{s.LAG_GROUP_TAG}" =~ /^$group$/'

PANELS: tuple[Panel, ...] = (
    # --- Hosts ---------------------------------------------------------------------
    Panel(
        "cpu_busy",
        "CPU busy (mean, %)",
        "hosts",
        "percent",
        (
            Query(
                "A",
                _rollup(
                    s.CPU,
                    '100 - mean("mean") AS "busy"',
                    f"{_field_is(s.CPU_IDLE)} AND "
                    f"\"{s.CPU_TOTAL_TAG}\" = '{s.CPU_TOTAL}'",
                ),
            ),
        ),
    ),
    Panel(
        "cpu_user_p95",
        "CPU user p95 (%)",
        "hosts",
        "percent",
        (
            Query(
                "A",
                _rollup(
                    s.CPU,
                    'max("p95") AS "p95"',
                    f"{_field_is(s.CPU_USER)} AND "
                    f"\"{s.CPU_TOTAL_TAG}\" = '{s.CPU_TOTAL}'",
                ),
            ),
        ),
    ),
    Panel(
        "mem_used",
        "Memory used (mean and p95, %)",
        "hosts",
        "percent",
        (
            Query(
                "A",
                _rollup(
                    s.MEM,
                    'mean("mean") AS "mean", max("p95") AS "p95"',
                    _field_is(s.MEM_USED_PERCENT),
                ),
            ),
        ),
    ),
    Panel(
        "disk_used",
        "Disk used (%)",
        "hosts",
        "percent",
        (
            Query(
                "A",
                _rollup(
                    s.DISK,
                    'last("last") AS "used"',
                    _field_is(s.DISK_USED_PERCENT),
                    (s.TAG_HOST, s.DISK_PATH_TAG),
                ),
            ),
        ),
    ),
    Panel(
        "net_rates",
        "Network (bytes/s)",
        "hosts",
        "Bps",
        (
            Query(
                "A",
                _rollup(
                    s.NET,
                    f'mean("{s.ROLLUP_RATE}") AS "rate"',
                    _field_in(s.NET_BYTES),
                    (s.TAG_HOST, s.NET_INTERFACE_TAG, s.TAG_FIELD),
                ),
            ),
        ),
    ),
    Panel(
        "diskio_rates",
        "Disk I/O (bytes/s)",
        "hosts",
        "Bps",
        (
            Query(
                "A",
                _rollup(
                    s.DISKIO,
                    f'mean("{s.ROLLUP_RATE}") AS "rate"',
                    _field_in(s.DISKIO_BYTES),
                    (s.TAG_HOST, s.DISKIO_DEVICE_TAG, s.TAG_FIELD),
                ),
            ),
        ),
    ),
    Panel(
        "load1",
        "Load average, 1 min (mean and p95)",
        "hosts",
        "short",
        (
            Query(
                "A",
                _rollup(
                    s.SYSTEM,
                    'mean("mean") AS "mean", max("p95") AS "p95"',
                    _field_is(s.SYSTEM_LOAD1),
                ),
            ),
        ),
    ),
    # --- Pipeline ------------------------------------------------------------------
    Panel(
        "stage_throughput",
        "Throughput per stage (records/s)",
        "pipeline",
        "rps",
        (
            Query(
                "A",
                _pipeline(
                    s.TELEGRAF_INTERNAL,
                    f'mean("{s.TELEGRAF_WRITTEN}") AS "telegraf"',
                    (s.TELEGRAF_OUTPUT_TAG,),
                ),
            ),
            Query(
                "B",
                _pipeline(s.SPARK_BATCH, f'mean("{s.SPARK_INPUT_ROWS}") AS "spark"'),
            ),
            Query(
                "C",
                _pipeline(
                    s.CONNECT_SINK,
                    f'mean("{s.CONNECT_RECORDS}") AS "connect"',
                    (s.CONNECT_CONNECTOR_TAG,),
                ),
            ),
        ),
        description="Telegraf writes, Spark input and Kafka Connect sink rates.",
    ),
    Panel(
        "spark_rows",
        "Spark rows/s (input and processed)",
        "pipeline",
        "rps",
        (
            Query(
                "A",
                _pipeline(
                    s.SPARK_BATCH,
                    f'mean("{s.SPARK_INPUT_ROWS}") AS "input", '
                    f'mean("{s.SPARK_PROCESSED_ROWS}") AS "processed"',
                ),
            ),
        ),
    ),
    Panel(
        "spark_batch_duration",
        "Spark batch duration",
        "pipeline",
        "ms",
        (
            Query(
                "A",
                _pipeline(
                    s.SPARK_BATCH,
                    f'mean("{s.SPARK_BATCH_DURATION}") AS "mean", '
                    f'max("{s.SPARK_BATCH_DURATION}") AS "max"',
                ),
            ),
        ),
    ),
    Panel(
        "dlq_rate",
        "Dead-letter rate by reason (records/s)",
        "pipeline",
        "rps",
        (
            Query(
                "A",
                _pipeline(
                    s.DLQ,
                    # Counts per bucket over the bucket length: a rate whatever
                    # the zoom.
                    f'sum("{s.DLQ_COUNT}") * 1000 / $__interval_ms AS "rate"',
                    (s.DLQ_REASON_TAG,),
                ),
            ),
        ),
    ),
    Panel(
        "late_points",
        "Late points (behind the watermark, not rolled up)",
        "pipeline",
        "short",
        (
            Query(
                "A",
                _pipeline(s.SPARK_BATCH, f'sum("{s.SPARK_LATE_POINTS}") AS "late"'),
            ),
        ),
        description=(
            "Points whose event time was behind the watermark when they arrived, "
            "counted by the rollup query; they are in no store."
        ),
    ),
    Panel(
        "data_loss",
        "Raw messages lost to retention (cumulative)",
        "pipeline",
        "short",
        (
            Query(
                "A",
                _pipeline(
                    s.SPARK_BATCH, f'max("{s.SPARK_DATA_LOSS}") AS "lost_messages"'
                ),
            ),
        ),
        description=(
            "metrics.raw records Kafka deleted before the Spark job read them (job "
            "stopped longer than the topic's retention); see "
            "process.fail_on_data_loss."
        ),
    ),
    Panel(
        "connect_sinks",
        "Kafka Connect sinks (records/s and errors)",
        "pipeline",
        "short",
        (
            Query(
                "A",
                _pipeline(
                    s.CONNECT_SINK,
                    f'mean("{s.CONNECT_RECORDS}") AS "records_per_s", '
                    f'sum("{s.CONNECT_ERRORS}") AS "errors"',
                    (s.CONNECT_CONNECTOR_TAG,),
                ),
            ),
        ),
    ),
    Panel(
        "verify_latency",
        "End-to-end latency per hop",
        "pipeline",
        "ms",
        (
            Query(
                "A",
                _pipeline(
                    s.VERIFY,
                    f'mean("{s.VERIFY_LATENCY}") AS "mean", '
                    f'max("{s.VERIFY_LATENCY}") AS "max"',
                    (s.VERIFY_HOP_TAG,),
                ),
            ),
        ),
    ),
    # --- Consumer lag --------------------------------------------------------------
    Panel(
        "lag_status",
        "Lag status per group (-1 unknown, 0 OK, 1 WARN, 2 ERR, 3 STOP, 4 STALL)",
        "lag",
        "short",
        (
            Query(
                "A",
                _pipeline(
                    s.CONSUMER_LAG,
                    f'last("{s.LAG_STATUS_CODE}") AS "status"',
                    (s.LAG_GROUP_TAG,),
                    _GROUP_FILTER,
                ),
            ),
        ),
        kind="state",
    ),
    Panel(
        "lag_offsets",
        "Lag (offsets behind)",
        "lag",
        "short",
        (
            Query(
                "A",
                _pipeline(
                    s.CONSUMER_LAG,
                    f'max("{s.LAG_OFFSETS}") AS "lag"',
                    (s.LAG_GROUP_TAG,),
                    _GROUP_FILTER,
                ),
            ),
        ),
    ),
    Panel(
        "lag_seconds",
        "Lag (seconds behind)",
        "lag",
        "s",
        (
            Query(
                "A",
                _pipeline(
                    s.CONSUMER_LAG,
                    f'max("{s.LAG_SECONDS}") AS "lag_s"',
                    (s.LAG_GROUP_TAG,),
                    _GROUP_FILTER,
                ),
            ),
        ),
    ),
    # --- Alerts (OpenSearch) ---------------------------------------------------------
    Panel(
        "alerts_rate",
        "Anomaly alerts over time",
        "alerts",
        "short",
        source="search",
        description="Count of alert documents per time bucket, by severity.",
    ),
)


def by_id(panel_id: str) -> Panel:
    for panel in PANELS:
        if panel.id == panel_id:
            return panel
    raise KeyError(panel_id)


def influx_panels() -> list[Panel]:
    return [p for p in PANELS if p.source == "influxdb"]
