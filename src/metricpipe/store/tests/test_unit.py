"""Fast checks of what the store services generate; no process is started."""

import datetime as dt
from pathlib import Path

import pytest

from metricpipe.config import validate_config
from metricpipe.errors import ConfigError
from metricpipe.paths import Workspace
from metricpipe.store.connect import (
    INFLUXDB_SINK,
    OPENSEARCH_SINK,
    ConnectService,
    connector_configs,
)
from metricpipe.store.influxdb import InfluxDBService
from metricpipe.store.opensearch import OpenSearchService
from metricpipe.store.search import index_day, index_templates

pytestmark = pytest.mark.fast

ALL = ["kafka", "opensearch", "influxdb", "connect"]


def test_influxd_config_binds_loopback_and_reports_nothing(tmp_path: Path) -> None:
    config = validate_config({"store": {"influxdb_port": 18086}})
    service = InfluxDBService(config, Workspace(tmp_path))

    text = service.influxd_config(rpc_port=18088)

    assert "reporting-disabled = true" in text
    assert 'bind-address = "127.0.0.1:18088"' in text
    assert 'bind-address = "127.0.0.1:18086"' in text
    assert str(service.data_dir / "wal") in text
    # Every other listener is off.
    for section in ("graphite", "collectd", "opentsdb", "udp"):
        assert f"[[{section}]]\n  enabled = false" in text


def test_influxdb_rejects_rpc_port_equal_to_http_port(tmp_path: Path) -> None:
    config = validate_config({"store": {"influxdb_port": 1, "influxdb_rpc_port": 1}})
    with pytest.raises(ConfigError, match="influxdb_rpc_port"):
        InfluxDBService(config, Workspace(tmp_path)).validate()


def test_opensearch_node_is_single_loopback_node(tmp_path: Path) -> None:
    config = validate_config({"store": {"opensearch_port": 19200}})
    service = OpenSearchService(config, Workspace(tmp_path))

    settings = service.node_settings(transport_port=19300)

    assert settings["network.host"] == "127.0.0.1"
    assert settings["http.port"] == "19200"
    assert settings["transport.port"] == "19300"
    assert settings["discovery.type"] == "single-node"


def test_templates_map_tags_keyword_times_date_stats_double() -> None:
    config = validate_config({})
    templates = index_templates(config.store)
    rollup = templates["metricpipe-rollup"]
    mappings = rollup["template"]["mappings"]

    assert rollup["index_patterns"] == ["metrics-rollup-*"]
    assert mappings["dynamic_templates"][0]["tags_as_keywords"]["mapping"] == {
        "type": "keyword"
    }
    props = mappings["properties"]
    assert props["window_start"]["type"] == "date"
    assert props["@timestamp"]["type"] == "date"
    assert all(props[s]["type"] == "double" for s in ("mean", "p99", "stddev"))
    assert props["count"]["type"] == "long"
    alerts = templates["metricpipe-alerts"]["template"]["mappings"]["properties"]
    assert alerts["severity"]["type"] == "keyword"
    assert alerts["score"]["type"] == "double"


def test_index_day_reads_only_daily_indices() -> None:
    assert index_day("metrics-rollup-2026.12.04", "metrics-rollup") == dt.date(
        2026, 12, 4
    )
    assert index_day("metrics-rollup-x", "metrics-rollup") is None
    assert index_day("other-2026.12.04", "metrics-rollup") is None


def test_four_connectors_with_dlq_and_explicit_identity_settings() -> None:
    config = validate_config({"supervisor": {"services": ALL}})
    connectors = connector_configs(config)

    assert set(connectors) == {
        "opensearch-rollup",
        "opensearch-alert",
        "influxdb-rollup",
        "influxdb-alert",
    }
    rollup = connectors["influxdb-rollup"]
    assert rollup["connector.class"] == INFLUXDB_SINK
    assert rollup["topics"] == "metrics.rollup"
    assert rollup["measurement.prefix"] == "rollup_"
    assert rollup["errors.tolerance"] == "all"
    assert rollup["errors.deadletterqueue.topic.name"] == "metrics.sink.dlq"
    assert connectors["opensearch-alert"]["connector.class"] == OPENSEARCH_SINK
    assert connectors["opensearch-alert"]["index.prefix"] == "metrics-alerts"


def test_connectors_follow_the_services_that_run() -> None:
    only_influx = validate_config(
        {"supervisor": {"services": ["kafka", "influxdb", "connect"]}}
    )
    assert set(connector_configs(only_influx)) == {"influxdb-rollup", "influxdb-alert"}

    external = validate_config(
        {
            "supervisor": {"services": ["kafka", "connect"]},
            "store": {
                "search_url": "http://127.0.0.1:9201",
                "search_flavor": "elasticsearch",
            },
        }
    )
    names = connector_configs(external)
    assert set(names) == {"elasticsearch-rollup", "elasticsearch-alert"}
    assert names["elasticsearch-rollup"]["store.url"] == "http://127.0.0.1:9201"


def test_worker_listens_on_loopback_with_string_keys(tmp_path: Path) -> None:
    config = validate_config({"store": {"connect_port": 18083}})
    service = ConnectService(config, Workspace(tmp_path))

    props = dict(
        line.split("=", 1)
        for line in service.worker_properties().splitlines()
        if line and not line.startswith("#")
    )

    assert props["listeners"] == "http://127.0.0.1:18083"
    assert props["rest.advertised.host.name"] == "127.0.0.1"
    assert props["key.converter"].endswith("StringConverter")
    assert props["value.converter.schemas.enable"] == "false"
    assert props["config.storage.replication.factor"] == "1"
