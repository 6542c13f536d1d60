"""Every store name the dashboards read: databases, measurements, tags, fields.

The store and process stages write these; keeping them in one module means a
rename there is one edit here when the branches are merged. Nothing else in the
dashboard package spells a measurement, index or field name.
"""

# --- InfluxDB 1.x ------------------------------------------------------------------

#: Rollups of the collected metrics: one measurement per source measurement.
METRICS_DB = "metrics"
#: The pipeline's own health: Spark, DLQ, lag, Connect, Telegraf, verify.
PIPELINE_DB = "pipeline"

# Rollup tags added by the Spark job on top of the series tags.
TAG_FIELD = "field"
TAG_WINDOW = "window_s"
TAG_HOST = "host"

# Rollup fields written for every window.
ROLLUP_FIELDS = (
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "last",
    "stddev",
    "p50",
    "p95",
    "p99",
)
#: Written only for counters: per-second rate over the window.
ROLLUP_RATE = "rate_per_s"

#: The sink writes a source measurement ``cpu`` as ``rollup_cpu``
#: (store.influxdb_measurement_prefix).
ROLLUP_PREFIX = "rollup_"

# Source measurements and the Telegraf fields the Hosts view plots.
CPU = ROLLUP_PREFIX + "cpu"
CPU_TOTAL_TAG = "cpu"
CPU_TOTAL = "cpu-total"
CPU_IDLE = "usage_idle"
CPU_USER = "usage_user"
MEM = ROLLUP_PREFIX + "mem"
MEM_USED_PERCENT = "used_percent"
DISK = ROLLUP_PREFIX + "disk"
DISK_USED_PERCENT = "used_percent"
DISK_PATH_TAG = "path"
NET = ROLLUP_PREFIX + "net"
NET_INTERFACE_TAG = "interface"
NET_BYTES = ("bytes_recv", "bytes_sent")
DISKIO = ROLLUP_PREFIX + "diskio"
DISKIO_DEVICE_TAG = "name"
DISKIO_BYTES = ("read_bytes", "write_bytes")
SYSTEM = ROLLUP_PREFIX + "system"
SYSTEM_LOAD1 = "load1"

# Pipeline measurements.
SPARK_BATCH = "spark_batch"
SPARK_INPUT_ROWS = "input_rows_per_s"
SPARK_PROCESSED_ROWS = "processed_rows_per_s"
SPARK_BATCH_DURATION = "batch_duration_ms"
SPARK_STATE_ROWS = "state_rows"
SPARK_LATE_ROWS = "rows_dropped_by_watermark"
#: Points behind the watermark, counted by the rollup query only (no double count).
SPARK_LATE_POINTS = "late_points"
#: Raw records retention deleted before the job read them; cumulative, persisted.
SPARK_DATA_LOSS = "data_loss_messages"

DLQ = "dlq"
DLQ_REASON_TAG = "reason"
DLQ_COUNT = "count"

CONSUMER_LAG = "consumer_lag"
LAG_GROUP_TAG = "group"
LAG_OFFSETS = "lag"
LAG_SECONDS = "lag_s"
LAG_STATUS = "status"
LAG_STATUS_CODE = "status_code"
#: Burrow's verdicts, best first; status_code is the index in this tuple.
LAG_STATUSES = ("OK", "WARN", "ERR", "STOP", "STALL")

CONNECT_SINK = "connect_sink"
CONNECT_CONNECTOR_TAG = "connector"
CONNECT_RECORDS = "records_per_s"
CONNECT_ERRORS = "errors"

# Telegraf's own `internal_write` statistics, routed to the pipeline database.
TELEGRAF_INTERNAL = "internal_write"
TELEGRAF_OUTPUT_TAG = "output"
TELEGRAF_WRITTEN = "metrics_written"
TELEGRAF_DROPPED = "metrics_dropped"

VERIFY = "verify"
VERIFY_HOP_TAG = "hop"
VERIFY_LATENCY = "latency_ms"

# --- OpenSearch ----------------------------------------------------------------------

ROLLUP_INDEX_PATTERN = "metrics-rollup-*"
ALERTS_INDEX_PATTERN = "metrics-alerts-*"
ALERT_TIME = "window_start"
ALERT_FIELDS = (
    "series_id",
    "measurement",
    "tags",
    "field",
    "value",
    "expected",
    "score",
    "severity",
    "window_start",
    "window_end",
)
ALERT_HOST = "tags.host"
ALERT_SEVERITY = "severity"
