"""Reconcile what was produced with what each store holds, per series and window.

The expected side is computed in Python from raw Telegraf JSON records with the
job's rules (process/README.md): numeric fields only (booleans count as 0/1,
strings and other values are not rolled up), series key and series_id as
``transform.series_key``/``series_id``, tumbling windows aligned to the epoch.
The stored side is read from OpenSearch (``metrics-rollup-*``, doc id = rollup
key) and InfluxDB (``rollup_<measurement>``, tags ``series_id``/``field``/
``window_s``). Only count, sum, min and max are compared: they are exact (sum up
to float rounding, since the order of addition differs).
"""

import hashlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

#: Relative tolerance for sums: the job adds doubles in another order.
SUM_REL_TOLERANCE = 1e-9

#: (series_id, window_s, window_start_ms): the rollup record's Kafka key parts.
RollupKey = tuple[str, int, int]


def _escape(part: str) -> str:
    out = []
    for char in part:
        if char in "\\,= ":
            out.append("\\")
        out.append(char)
    return "".join(out)


def series_key(measurement: str, tags: dict[str, str], field_name: str) -> str:
    """Same key as ``transform.series_key``: line-protocol style, tags sorted."""
    parts = [_escape(measurement)] + [
        f"{_escape(k)}={_escape(v)}" for k, v in sorted(tags.items())
    ]
    return ",".join(parts) + " " + _escape(field_name)


def series_id(key: str) -> str:
    """Same id as ``transform.series_id``: 32 hex digits of SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def window_start_ms(ts_ms: int, window_s: int) -> int:
    """Start of the tumbling window holding ``ts_ms`` (Spark's epoch alignment)."""
    size = window_s * 1000
    return ts_ms - ts_ms % size


@dataclass
class Stats:
    measurement: str
    field: str
    tags: dict[str, str]
    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)


def numeric_value(value: object) -> float | None:
    """The job's numeric rule: ints, floats and booleans; never strings."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


class Expected:
    """Expected rollups, fed one raw record (already-parsed JSON) at a time.

    The records must be ones the job accepts (timestamps in ms within the skew
    limits, finite numbers): the harness produces only such records.
    """

    def __init__(self, windows: Iterable[int]) -> None:
        self.windows = sorted(windows)
        self.rollups: dict[RollupKey, Stats] = {}
        self.records = 0
        self.max_ts_ms = 0

    def add(self, record: dict[str, Any]) -> None:
        self.records += 1
        ts_ms = int(record["timestamp"])
        self.max_ts_ms = max(self.max_ts_ms, ts_ms)
        tags = {str(k): str(v) for k, v in (record.get("tags") or {}).items()}
        measurement = str(record["name"])
        for name, raw in record["fields"].items():
            value = numeric_value(raw)
            if value is None:
                continue
            sid = series_id(series_key(measurement, tags, name))
            for window_s in self.windows:
                key = (sid, window_s, window_start_ms(ts_ms, window_s))
                stats = self.rollups.get(key)
                if stats is None:
                    stats = self.rollups[key] = Stats(measurement, name, tags)
                stats.add(value)

    def closed(self, watermark_ms: int) -> dict[RollupKey, Stats]:
        """Rollups of windows that end at or before ``watermark_ms``."""
        return {
            key: stats
            for key, stats in self.rollups.items()
            if key[2] + key[1] * 1000 <= watermark_ms
        }


@dataclass
class Stored:
    """What one store holds: every copy found per key (more than one: duplicate)."""

    store: str
    copies: dict[RollupKey, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, key: RollupKey, values: dict[str, Any]) -> None:
        self.copies.setdefault(key, []).append(values)


@dataclass
class StoreReport:
    store: str
    expected: int = 0
    missing: int = 0
    duplicated: int = 0
    count_mismatch: int = 0
    value_mismatch: int = 0
    unexpected: int = 0
    #: A few offending keys with what differed, for the failure message.
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.duplicated
            or self.count_mismatch
            or self.value_mismatch
            or self.unexpected
        )

    def note(self, text: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(text)


def _close(expected: float, got: object) -> bool:
    if not isinstance(got, int | float) or isinstance(got, bool):
        return False
    return math.isclose(expected, float(got), rel_tol=SUM_REL_TOLERANCE, abs_tol=1e-9)


def reconcile(
    expected: dict[RollupKey, Stats],
    stored: Stored,
    window_range_ms: tuple[int, int] | None = None,
) -> StoreReport:
    """Compare expected closed rollups with one store's copies.

    Stored keys not expected count as ``unexpected`` when their window lies in
    ``window_range_ms`` ([first start, last end)) and so should have been
    expected: a rollup for data that was never produced, or a window wrongly split.
    """
    report = StoreReport(stored.store, expected=len(expected))
    for key, stats in expected.items():
        copies = stored.copies.get(key, [])
        if not copies:
            report.missing += 1
            report.note(f"missing {key} ({stats.measurement}.{stats.field})")
            continue
        if len(copies) > 1:
            report.duplicated += 1
            report.note(f"{len(copies)} copies of {key}")
        got = copies[-1]
        count = got.get("count")
        if count != stats.count:
            if isinstance(count, int) and count > stats.count:
                report.duplicated += 1
            else:
                report.count_mismatch += 1
            report.note(f"count of {key}: stored {count}, expected {stats.count}")
            continue
        if not (
            _close(stats.sum, got.get("sum"))
            and _close(stats.min, got.get("min"))
            and _close(stats.max, got.get("max"))
        ):
            report.value_mismatch += 1
            report.note(
                f"values of {key}: stored sum/min/max "
                f"{got.get('sum')}/{got.get('min')}/{got.get('max')}, expected "
                f"{stats.sum}/{stats.min}/{stats.max}"
            )
    if window_range_ms is not None:
        low, high = window_range_ms
        for key in stored.copies:
            inside = low <= key[2] and key[2] + key[1] * 1000 <= high
            if inside and key not in expected:
                report.unexpected += 1
                report.note(f"unexpected stored rollup {key}")
    return report


# --- reading the stores -------------------------------------------------------------


KEY_FIELDS = ("series_id", "window_s", "window_start")


def opensearch_rollups(
    url: str,
    index_prefix: str,
    host_prefix: str,
    client: httpx.Client | None = None,
    auth: tuple[str, str] | None = None,
) -> Stored:
    """Every rollup document whose ``tags.host`` starts with ``host_prefix``.

    Read with the scroll API; a key found in two documents (two daily indices,
    or two ids) is a duplicate. ``auth`` (user, password) is for the client
    made here when none is given.
    """
    http = client or httpx.Client(timeout=30.0, auth=auth)
    stored = Stored("opensearch")
    pattern = f"{index_prefix}-*"
    http.post(f"{url}/{pattern}/_refresh").raise_for_status()
    body: dict[str, Any] = {
        "size": 5000,
        "query": {"prefix": {"tags.host": host_prefix}},
        "_source": [*KEY_FIELDS, "count", "sum", "min", "max"],
    }
    answer = http.post(f"{url}/{pattern}/_search", params={"scroll": "1m"}, json=body)
    while True:
        answer.raise_for_status()
        page = answer.json()
        hits = page["hits"]["hits"]
        for hit in hits:
            src = hit["_source"]
            key = (
                str(src["series_id"]),
                int(src["window_s"]),
                int(src["window_start"]),
            )
            stored.add(key, {**src, "_id": hit["_id"], "_index": hit["_index"]})
        if not hits:
            http.request(
                "DELETE",
                f"{url}/_search/scroll",
                json={"scroll_id": page["_scroll_id"]},
            )
            return stored
        answer = http.post(
            f"{url}/_search/scroll",
            json={"scroll": "1m", "scroll_id": page["_scroll_id"]},
        )


def influxdb_rollups(
    url: str,
    database: str,
    measurement_prefix: str,
    measurements: Iterable[str],
    host_prefix: str,
    client: httpx.Client | None = None,
    auth: tuple[str, str] | None = None,
) -> Stored:
    """Every rollup point whose ``host`` tag starts with ``host_prefix``.

    InfluxDB overwrites a point with the same series and time, so one key can
    only show twice if the tag sets differ (e.g. a tag added on replay).
    ``auth`` (user, password) is for the client made here when none is given.
    """
    http = client or httpx.Client(timeout=60.0, auth=auth)
    stored = Stored("influxdb")
    if not all(c.isalnum() or c == "-" for c in host_prefix):
        raise ValueError(f"host prefix {host_prefix!r}: use only letters, digits, -")
    for measurement in measurements:
        query = (
            f'SELECT "count", "sum", "min", "max", "series_id", "window_s" '
            f'FROM "{measurement_prefix}{measurement}" '
            f'WHERE "host" =~ /^{host_prefix}/'
        )
        answer = http.get(
            f"{url}/query",
            params={"db": database, "q": query, "epoch": "ms"},
        )
        answer.raise_for_status()
        result = answer.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxDB refused {query!r}: {result['error']}")
        for series in result.get("series") or []:
            columns = series["columns"]
            for row in series["values"]:
                point = dict(zip(columns, row, strict=True))
                key = (
                    str(point["series_id"]),
                    int(point["window_s"]),
                    int(point["time"]),
                )
                stored.add(key, point)
    return stored
