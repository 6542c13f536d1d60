"""Validated parameters and the only queries the live dashboard runs.

Nothing a browser sends becomes query text except through :func:`render`: the time
range must be one of :data:`RANGES`, host and group must match
:data:`IDENTIFIER` and are regex-escaped before they land inside ``/^...$/``.
InfluxDB is asked through ``GET /query``, which InfluxDB 1.x answers only for
read statements; OpenSearch only through ``_search`` with a body built here.
"""

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from metricpipe.dashboard import schema as s
from metricpipe.dashboard.panels import Panel
from metricpipe.errors import InvalidValueError, MetricpipeError

log = logging.getLogger(__name__)

#: Allowed time ranges and the bucket width each one uses.
RANGES: dict[str, str] = {"5m": "10s", "15m": "30s", "1h": "1m"}
DEFAULT_RANGE = "15m"
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_PLACEHOLDER = re.compile(r"\$(timeFilter|__interval_ms|__interval|host|group)\b")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000}


class ParamError(InvalidValueError):
    """A request parameter of the dashboard API has a value that is not allowed."""

    subject = "parameter"


class StoreError(MetricpipeError):
    """A store did not answer a panel query."""

    def __init__(self, store: str, url: str, reason: str) -> None:
        self.store = store
        self.url = url
        self.reason = reason
        super().__init__(f"{store} at {url} did not answer: {reason}")


@dataclass(frozen=True)
class Params:
    range: str = DEFAULT_RANGE
    host: str | None = None
    group: str | None = None

    @property
    def interval(self) -> str:
        return RANGES[self.range]

    @property
    def interval_ms(self) -> int:
        return duration_ms(self.interval)

    @property
    def range_ms(self) -> int:
        return duration_ms(self.range)


def duration_ms(text: str) -> int:
    return int(text[:-1]) * _UNIT_MS[text[-1]]


def parse_params(query: dict[str, str]) -> Params:
    """Params from a request's query string; raise :class:`ParamError`."""
    unknown = sorted(set(query) - {"range", "host", "group"})
    if unknown:
        raise ParamError(
            unknown[0], query[unknown[0]], "unknown parameter", "use range, host, group"
        )

    range_ = query.get("range", DEFAULT_RANGE)
    if range_ not in RANGES:
        raise ParamError(
            "range", range_, f"must be one of {', '.join(RANGES)}", "pick a listed one"
        )

    names: dict[str, str | None] = {}
    for key in ("host", "group"):
        value = query.get(key) or None
        if value is not None and not IDENTIFIER.match(value):
            raise ParamError(
                key,
                value,
                f"must match {IDENTIFIER.pattern}",
                "use letters, digits and . _ : - only",
            )
        names[key] = value
    return Params(range_, names["host"], names["group"])


def _regex(value: str | None) -> str:
    # Inside an InfluxQL /.../ literal; IDENTIFIER already excludes '/'.
    return ".*" if value is None else re.escape(value)


def render(template: str, params: Params) -> str:
    """A panel's InfluxQL with Grafana's placeholders replaced by safe values."""
    values = {
        "timeFilter": f"time > now() - {params.range}",
        "__interval_ms": str(params.interval_ms),
        "__interval": params.interval,
        "host": _regex(params.host),
        "group": _regex(params.group),
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


# --- InfluxDB --------------------------------------------------------------------


def _label(column: str, tags: dict[str, str]) -> str:
    # The column alias names what is plotted (e.g. the stage); tags say for whom.
    return " ".join([column, *(f"{k}={v}" for k, v in sorted(tags.items()) if v)])


#: (user, password) for HTTP basic auth, or None.
Auth = tuple[str, str] | None


async def influx_query(
    client: httpx.AsyncClient, url: str, q: str, auth: Auth = None
) -> dict[str, Any]:
    try:
        response = await client.get(
            f"{url}/query", params={"q": q, "epoch": "ms"}, auth=auth, timeout=5.0
        )
    except httpx.HTTPError as exc:
        raise StoreError("InfluxDB", url, str(exc) or type(exc).__name__) from None
    if response.status_code != 200:
        raise StoreError("InfluxDB", url, f"HTTP {response.status_code}")
    body: dict[str, Any] = response.json()
    return body


def influx_series(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Series as ``{"label", "points": [[t_ms, v], ...]}`` from a /query answer."""
    series_out = []
    for result in body.get("results", []):
        if "error" in result:
            raise StoreError("InfluxDB", "", str(result["error"]))
        for series in result.get("series", []):
            columns = series["columns"]
            values = [c for c in columns if c != "time"]
            for column in values:
                index = columns.index(column)
                points = [
                    [row[0], row[index]]
                    for row in series.get("values", [])
                    if row[index] is not None
                ]
                series_out.append(
                    {
                        "label": _label(column, series.get("tags", {})),
                        "points": points,
                    }
                )
    return series_out


async def influx_panel(
    client: httpx.AsyncClient, url: str, panel: Panel, params: Params, auth: Auth = None
) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = []
    for query in panel.queries:
        body = await influx_query(client, url, render(query.influxql, params), auth)
        series.extend(influx_series(body))
    return series


# --- OpenSearch ------------------------------------------------------------------


def alerts_search_body(params: Params) -> dict[str, Any]:
    """The fixed search for the Alerts view: counts per bucket and severity."""
    filters: list[dict[str, Any]] = [
        {"range": {s.ALERT_TIME: {"gte": f"now-{params.range}"}}}
    ]
    if params.host is not None:
        filters.append({"term": {s.ALERT_HOST: params.host}})
    return {
        "size": 20,
        "sort": [{s.ALERT_TIME: "desc"}],
        "_source": list(s.ALERT_FIELDS),
        "query": {"bool": {"filter": filters}},
        "aggs": {
            "severity": {
                "terms": {"field": s.ALERT_SEVERITY, "size": 10},
                "aggs": {
                    "over_time": {
                        "date_histogram": {
                            "field": s.ALERT_TIME,
                            "fixed_interval": params.interval,
                        }
                    }
                },
            }
        },
    }


async def alerts_panel(
    client: httpx.AsyncClient, url: str, params: Params, auth: Auth = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Alert counts over time by severity, and the latest alert documents."""
    try:
        response = await client.post(
            f"{url}/{s.ALERTS_INDEX_PATTERN}/_search",
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
            json=alerts_search_body(params),
            auth=auth or httpx.USE_CLIENT_DEFAULT,
            timeout=5.0,
        )
    except httpx.HTTPError as exc:
        raise StoreError("OpenSearch", url, str(exc) or type(exc).__name__) from None
    if response.status_code != 200:
        raise StoreError("OpenSearch", url, f"HTTP {response.status_code}")

    body = response.json()
    buckets = body.get("aggregations", {}).get("severity", {}).get("buckets", [])
    series = [
        {
            "label": f"severity={b['key']}",
            "points": [[x["key"], x["doc_count"]] for x in b["over_time"]["buckets"]],
        }
        for b in buckets
    ]
    rows = [hit["_source"] for hit in body.get("hits", {}).get("hits", [])]
    return series, rows


# --- Header health ---------------------------------------------------------------

LAG_STATUS_QUERY = (
    f'SELECT last("{s.LAG_STATUS}") AS "status" '
    f'FROM "{s.PIPELINE_DB}".."{s.CONSUMER_LAG}" '
    f'WHERE time > now() - 5m GROUP BY "{s.LAG_GROUP_TAG}"'
)
DLQ_WINDOW_S = 300
DLQ_COUNT_QUERY = (
    f'SELECT sum("{s.DLQ_COUNT}") AS "count" FROM "{s.PIPELINE_DB}".."{s.DLQ}" '
    f"WHERE time > now() - {DLQ_WINDOW_S}s"
)


async def lag_statuses(
    client: httpx.AsyncClient, url: str, auth: Auth = None
) -> dict[str, str]:
    body = await influx_query(client, url, LAG_STATUS_QUERY, auth)
    statuses = {}
    for result in body.get("results", []):
        for series in result.get("series", []):
            group = series.get("tags", {}).get(s.LAG_GROUP_TAG, "")
            statuses[group] = str(series["values"][-1][1])
    return statuses


async def dlq_rate(client: httpx.AsyncClient, url: str, auth: Auth = None) -> float:
    body = await influx_query(client, url, DLQ_COUNT_QUERY, auth)
    total = 0.0
    for result in body.get("results", []):
        for series in result.get("series", []):
            total += float(series["values"][0][1] or 0)
    return total / DLQ_WINDOW_S
