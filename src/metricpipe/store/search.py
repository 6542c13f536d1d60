"""Index templates and retention of the daily search indices.

Both OpenSearch 2.x and Elasticsearch 8/9 serve ``_index_template``, ``_cat/indices``
and ``DELETE /<index>`` the same way, so this module works against either.
"""

import datetime as dt
import logging
from typing import Any

import httpx

from metricpipe.errors import ServiceError
from metricpipe.store.config import StoreConfig

log = logging.getLogger(__name__)

HOST = "127.0.0.1"

# Statistics are doubles even when a value looks integral, so the first document
# of a day cannot fix a field to long and reject the next fractional one.
_ROLLUP_STATS = ("sum", "mean", "min", "max", "last", "stddev", "p50", "p95", "p99")
_ALERT_STATS = ("value", "expected", "score")


def search_url(store: StoreConfig) -> str:
    return store.search_url.rstrip("/") or f"http://{HOST}:{store.opensearch_port}"


def _mappings(stats: tuple[str, ...], extra: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "@timestamp": {"type": "date", "format": "epoch_millis"},
        "window_start": {"type": "date", "format": "epoch_millis"},
        "window_end": {"type": "date", "format": "epoch_millis"},
        "window_s": {"type": "integer"},
        "series_id": {"type": "keyword"},
        "measurement": {"type": "keyword"},
        "field": {"type": "keyword"},
        "tags": {"type": "object", "dynamic": True},
        **{stat: {"type": "double"} for stat in stats},
        **extra,
    }
    return {
        # New top-level fields are kept in _source but not indexed: a new field
        # from the Spark job must not change the mapping under our feet.
        "dynamic": False,
        # Every tag value is a keyword: tags are for exact filters and terms.
        "dynamic_templates": [
            {
                "tags_as_keywords": {
                    "path_match": "tags.*",
                    "mapping": {"type": "keyword"},
                }
            }
        ],
        "properties": properties,
    }


def index_templates(store: StoreConfig) -> dict[str, dict[str, Any]]:
    """The templates by name: one per record kind, matching its daily indices."""
    settings = {"number_of_shards": 1, "number_of_replicas": 0}
    return {
        "metricpipe-rollup": {
            "index_patterns": [f"{store.rollup_index_prefix}-*"],
            "priority": 200,
            "template": {
                "settings": settings,
                "mappings": _mappings(_ROLLUP_STATS, {"count": {"type": "long"}}),
            },
        },
        "metricpipe-alerts": {
            "index_patterns": [f"{store.alerts_index_prefix}-*"],
            "priority": 200,
            "template": {
                "settings": settings,
                "mappings": _mappings(_ALERT_STATS, {"severity": {"type": "keyword"}}),
            },
        },
    }


def install_templates(store: StoreConfig, timeout_s: float = 10.0) -> None:
    """PUT every template; idempotent, done before any connector writes."""
    base = search_url(store)
    auth = store.search_auth()
    for name, body in index_templates(store).items():
        response = httpx.put(
            f"{base}/_index_template/{name}", json=body, auth=auth, timeout=timeout_s
        )
        if response.status_code != 200:
            raise ServiceError(
                "opensearch",
                f"refused index template {name} ({response.status_code}): "
                f"{response.text[:500]}",
            )
        log.info("Index template %s installed", name)


def prune_indices(
    store: StoreConfig, today: dt.date | None = None, timeout_s: float = 10.0
) -> list[str]:
    """Delete daily indices older than ``search_retention_days``; return their names."""
    base = search_url(store)
    auth = store.search_auth()
    today = today or dt.datetime.now(dt.UTC).date()
    oldest = today - dt.timedelta(days=store.search_retention_days)
    deleted = []
    for prefix in (store.rollup_index_prefix, store.alerts_index_prefix):
        response = httpx.get(
            f"{base}/_cat/indices/{prefix}-*",
            params={"format": "json", "h": "index"},
            auth=auth,
            timeout=timeout_s,
        )
        response.raise_for_status()
        for row in response.json():
            name = str(row["index"])
            day = index_day(name, prefix)
            if day is not None and day < oldest:
                httpx.delete(
                    f"{base}/{name}", auth=auth, timeout=timeout_s
                ).raise_for_status()
                deleted.append(name)
                log.info("Deleted index %s, older than %s", name, oldest)
    return deleted


def index_day(name: str, prefix: str) -> dt.date | None:
    """The day of a daily index ``<prefix>-YYYY.MM.DD``, or None for other names."""
    suffix = name.removeprefix(prefix + "-")
    if suffix == name:
        return None
    try:
        return dt.datetime.strptime(suffix, "%Y.%m.%d").date()
    except ValueError:
        return None
