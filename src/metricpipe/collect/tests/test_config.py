"""Config of the collection stage and the Telegraf TOML generated from it."""

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from metricpipe.collect.config import HOST_INPUTS
from metricpipe.collect.service import TelegrafService
from metricpipe.collect.telegraf_conf import duration, telegraf_toml
from metricpipe.config import Config, load_config, validate_config
from metricpipe.errors import ConfigError, ConfigErrors
from metricpipe.paths import Workspace
from metricpipe.supervisor.registry import build_services
from metricpipe.testing import cli


def _generated(data: dict[str, Any]) -> dict[str, Any]:
    return tomllib.loads(telegraf_toml(validate_config(data)))


@pytest.mark.fast
def test_defaults_land_in_the_toml() -> None:
    conf = _generated({"supervisor": {"services": ["kafka", "telegraf"]}})

    agent = conf["agent"]
    assert agent["interval"] == "2s"
    assert agent["flush_interval"] == "1s"
    assert agent["precision"] == "1ms"
    assert agent["omit_hostname"] is False
    assert agent["metric_buffer_limit"] == 10_000
    assert agent["metric_batch_size"] == 1000
    assert agent["hostname"]

    for name in HOST_INPUTS:
        assert len(conf["inputs"][name]) == 1, name
    assert conf["inputs"]["internal"] == [
        {"collect_memstats": True, "per_instance": False}
    ]
    # The store inputs belong only to pipelines that run those stores.
    assert "elasticsearch" not in conf["inputs"]
    assert "influxdb" not in conf["inputs"]

    (kafka,) = conf["outputs"]["kafka"]
    assert kafka["brokers"] == ["127.0.0.1:9092"]
    assert kafka["topic"] == "metrics.raw"
    assert kafka["data_format"] == "json"
    assert kafka["json_timestamp_units"] == "1ms"
    assert kafka["routing_tag"] == "host"
    assert kafka["idempotent_writes"] is True
    assert kafka["required_acks"] == -1
    assert kafka["max_message_bytes"] == 1_000_000
    assert kafka["compression_codec"] == 4  # zstd


@pytest.mark.fast
def test_every_option_lands_in_the_toml() -> None:
    conf = _generated(
        {
            "supervisor": {"services": ["kafka", "telegraf"]},
            "kafka": {
                "port": 19092,
                "topics": {"raw": {"name": "raw.x", "max_message_bytes": 2_000_000}},
            },
            "collect": {
                "interval_s": 0.5,
                "flush_interval_s": 3,
                "inputs": ["cpu", "net"],
                "metric_batch_size": 50,
                "metric_buffer_limit": 400,
                "max_message_bytes": 1_500_000,
                "max_retry": 7,
                "compression": "lz4",
                "hostname": "edge-7",
                "net_interfaces": ["eth*"],
                "debug": True,
            },
        }
    )

    agent = conf["agent"]
    assert agent["interval"] == "500ms"
    assert agent["flush_interval"] == "3s"
    assert agent["metric_batch_size"] == 50
    assert agent["metric_buffer_limit"] == 400
    assert agent["hostname"] == "edge-7"
    assert agent["debug"] is True
    assert set(conf["inputs"]) == {"cpu", "net", "internal"}
    assert conf["inputs"]["net"] == [{"interfaces": ["eth*"]}]

    (kafka,) = conf["outputs"]["kafka"]
    assert kafka["brokers"] == ["127.0.0.1:19092"]
    assert kafka["topic"] == "raw.x"
    assert kafka["max_message_bytes"] == 1_500_000
    assert kafka["max_retry"] == 7
    assert kafka["compression_codec"] == 3


@pytest.mark.fast
def test_store_inputs_follow_the_enabled_services() -> None:
    conf = _generated(
        {
            "supervisor": {"services": ["kafka", "opensearch", "influxdb", "telegraf"]},
            "store": {"opensearch_port": 19200, "influxdb_port": 18086},
        }
    )

    assert conf["inputs"]["elasticsearch"][0]["servers"] == ["http://127.0.0.1:19200"]
    assert conf["inputs"]["influxdb"][0]["urls"] == [
        "http://127.0.0.1:18086/debug/vars"
    ]


@pytest.mark.fast
def test_external_cluster_is_the_bootstrap() -> None:
    conf = _generated({"kafka": {"bootstrap_servers": "10.0.0.1:9092,10.0.0.2:9092"}})

    assert conf["outputs"]["kafka"][0]["brokers"] == ["10.0.0.1:9092", "10.0.0.2:9092"]


@pytest.mark.fast
@pytest.mark.parametrize(
    ("seconds", "text"), [(2, "2s"), (2.0, "2s"), (0.25, "250ms"), (1.5, "1500ms")]
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.fast
@pytest.mark.parametrize(
    ("collect", "key"),
    [
        ({"interval_s": 0}, "collect.interval_s"),
        ({"flush_interval_s": -1}, "collect.flush_interval_s"),
        ({"inputs": ["cpu", "gpu"]}, "collect.inputs"),
        ({"inputs": ["cpu", "cpu"]}, "collect.inputs"),
        ({"metric_batch_size": 0}, "collect.metric_batch_size"),
        ({"metric_buffer_limit": 1500}, "collect.metric_buffer_limit"),
        ({"compression": "brotli"}, "collect.compression"),
        ({"hostname": "my host"}, "collect.hostname"),
        ({"intervall_s": 3}, "collect.intervall_s"),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, collect: dict[str, Any], key: str
) -> None:
    path = tmp_path / "metricpipe.toml"
    path.write_text(tomli_w.dumps({"collect": collect}))

    with pytest.raises(ConfigErrors) as caught:
        load_config(path, environ={})

    assert [e.key for e in caught.value.errors] == [key]


@pytest.mark.fast
def test_unknown_input_error_lists_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        validate_config({"collect": {"inputs": ["gpu"]}})

    (error,) = caught.value.errors
    assert "gpu" in str(error)
    assert all(name in error.allowed for name in HOST_INPUTS)


@pytest.mark.fast
def test_env_override_reaches_the_toml() -> None:
    config = load_config(None, environ={"METRICPIPE_COLLECT__INTERVAL_S": "5"})

    assert tomllib.loads(telegraf_toml(config))["agent"]["interval"] == "5s"


@pytest.mark.fast
def test_message_size_is_checked_against_the_raw_topic(tmp_path: Path) -> None:
    config = validate_config(
        {
            "kafka": {
                "topics": {"raw": {"name": "metrics.raw", "max_message_bytes": 500_000}}
            },
            "collect": {"max_message_bytes": 600_000},
        }
    )
    service = TelegrafService(config, Workspace(tmp_path))

    with pytest.raises(ConfigError) as caught:
        service.validate()

    assert caught.value.key == "collect.max_message_bytes"
    assert caught.value.value == 600_000
    assert "500000" in caught.value.fix


@pytest.mark.fast
def test_telegraf_runs_by_default_after_kafka(tmp_path: Path) -> None:
    names = [s.name for s in build_services(Config(), Workspace(tmp_path))]

    assert names.index("telegraf") > names.index("kafka")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"collect": {"interval_s": 0}}, "collect.interval_s"),
        ({"collect": {"inputs": ["cpu", "gpu"]}}, "collect.inputs"),
        (
            {
                "kafka": {
                    "topics": {
                        "raw": {"name": "metrics.raw", "max_message_bytes": 500_000}
                    }
                },
                "collect": {"max_message_bytes": 600_000},
            },
            "collect.max_message_bytes",
        ),
    ],
)
def test_cli_rejects_bad_config_before_starting_anything(
    tmp_path: Path, data: dict[str, Any], key: str
) -> None:
    config_file = tmp_path / "metricpipe.toml"
    config_file.write_text(tomli_w.dumps(data))
    workspace = tmp_path / "ws"

    result = cli(
        "up", "--detach", "--config", str(config_file), "--workspace", str(workspace)
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert key in result.stdout + result.stderr
    # Nothing started: no service log, no generated Telegraf config.
    assert not (workspace / "logs").exists() or not any((workspace / "logs").iterdir())
    assert not (workspace / "conf" / "telegraf" / "telegraf.conf").exists()


@pytest.mark.fast
def test_full_stack_routes_pipeline_metrics_to_influxdb() -> None:
    conf = _generated({"store": {"influxdb_port": 18086}, "dashboard": {"port": 18050}})

    assert conf["inputs"]["elasticsearch"][0]["servers"] == ["http://127.0.0.1:9200"]
    (spark,) = conf["inputs"]["kafka_consumer"]
    assert spark["topics"] == ["metrics.pipeline"]
    assert spark["json_name_key"] == "kind"
    (lag,) = conf["inputs"]["http"]
    assert lag["urls"] == ["http://127.0.0.1:18050/api/lag"]
    assert lag["json_name_key"] == "measurement"

    (influx,) = conf["outputs"]["influxdb"]
    assert influx["urls"] == ["http://127.0.0.1:18086"]
    assert influx["database"] == "pipeline"
    assert {"spark_batch", "dlq", "consumer_lag", "internal_write"} <= set(
        influx["namepass"]
    )
    (kafka,) = conf["outputs"]["kafka"]
    assert set(kafka["namedrop"]) == {
        "spark_batch",
        "dlq",
        "consumer_lag",
        "connect_sink",
    }
