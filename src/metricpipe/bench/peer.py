"""The Telegraf-only peer: kafka_consumer -> basicstats -> InfluxDB, no Spark.

It is the setup people pick when they skip Spark. It reads its own topic with its
own consumer group and writes to its own InfluxDB database, all on loopback, so
it never disturbs the pipeline's data.
"""

import subprocess
from pathlib import Path

import httpx
import tomli_w

from metricpipe.broker.tls import write_private
from metricpipe.collect.telegraf_conf import telegraf_secret
from metricpipe.provision import installers
from metricpipe.provision.components import by_name

PEER_GROUP = "metricpipe-bench-peer"
PEER_DATABASE = "bench_peer"
PEER_POLICY = "bench"
# The tags the load generator writes; Telegraf's JSON parser flattens the nested
# "tags" object into tags_<name> keys.
TAG_KEYS = ("tags_host", "tags_cpu", "tags_interface", "tags_name")


def peer_toml(
    bootstrap: str,
    topic: str,
    influx_url: str,
    window_s: int,
    auth: tuple[str, str] | None = None,
) -> str:
    tags = ", ".join(f'"{t}"' for t in TAG_KEYS)
    credentials = ""
    if auth is not None:
        # tomli_w quotes them; the file is written 0600 (start_peer).
        user, password = auth
        credentials = tomli_w.dumps(
            {
                "username": user,
                "password": telegraf_secret(password, "store.influxdb_password"),
            }
        )
    return f"""[agent]
  interval = "{window_s}s"
  flush_interval = "1s"
  metric_batch_size = 20000
  metric_buffer_limit = 2000000
  omit_hostname = true
  quiet = true

[[inputs.kafka_consumer]]
  brokers = ["{bootstrap}"]
  topics = ["{topic}"]
  consumer_group = "{PEER_GROUP}"
  offset = "oldest"
  # Kafka 4 dropped the old protocol versions sarama assumes by default: without
  # this every fetch ends in EOF (as the collect stage's own consumer knows).
  version = "3.9.0"
  max_undelivered_messages = 100000
  data_format = "json"
  json_name_key = "name"
  tag_keys = [{tags}]
  json_time_key = "timestamp"
  json_time_format = "unix_ms"

[[aggregators.basicstats]]
  period = "{window_s}s"
  drop_original = true
  stats = ["count", "min", "max", "mean", "stdev", "sum"]

[[outputs.influxdb]]
  urls = ["{influx_url}"]
  database = "{PEER_DATABASE}"
  retention_policy = "{PEER_POLICY}"
  skip_database_creation = true
{credentials}"""


def create_database(influx_url: str, auth: tuple[str, str] | None = None) -> None:
    """The peer's database with a policy of its own.

    Our influxd runs with retention-autocreate off, so a database Telegraf
    creates has no policy and every write fails ("retention policy not found").
    """
    answer = httpx.post(
        f"{influx_url}/query",
        data={
            "q": f'CREATE DATABASE "{PEER_DATABASE}" WITH DURATION 1d '
            f'REPLICATION 1 NAME "{PEER_POLICY}"'
        },
        auth=auth,
        timeout=10,
    )
    answer.raise_for_status()


def start_peer(conf_dir: Path, toml: str) -> subprocess.Popen[bytes]:
    """Start the provisioned Telegraf binary with the peer's config."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    conf = conf_dir / "peer-telegraf.conf"
    # 0600: it holds the InfluxDB password when store.influxdb_username is set.
    write_private(conf, toml)
    binary = installers.artifact_path(by_name("telegraf"))
    log = (conf_dir / "peer-telegraf.log").open("ab")
    return subprocess.Popen(
        [str(binary), "--config", str(conf)], stdout=log, stderr=subprocess.STDOUT
    )
