"""The Kafka Connect distributed worker and metricpipe's sink connectors.

The worker comes from Maven Central (``connect-runtime``); the connectors are our
own plugin (``store/connector``, built by ``metricpipe setup``). Once the worker
answers, the connectors are registered with idempotent
``PUT /connectors/<name>/config`` and we wait until every task is RUNNING.
"""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from metricpipe.broker.config import properties_value
from metricpipe.broker.service import java_classpath
from metricpipe.broker.tls import write_private
from metricpipe.config import Config
from metricpipe.errors import ServiceError
from metricpipe.provision import installers
from metricpipe.provision.components import by_name
from metricpipe.store.search import install_templates, prune_indices, search_url
from metricpipe.supervisor.service import ProcessSpec, Service

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
OPENSEARCH_SINK = "io.metricpipe.connect.OpenSearchSinkConnector"
INFLUXDB_SINK = "io.metricpipe.connect.InfluxDbSinkConnector"
RETENTION_POLICY = "metricpipe"  # created by the influxdb service
#: Kafka's own provider: ``${file:<path>:<key>}`` in a connector config is read
#: from a .properties file by the worker when it starts the connector, so the
#: REST API and the config topic only ever hold the reference.
FILE_CONFIG_PROVIDER = "org.apache.kafka.common.config.provider.FileConfigProvider"
#: Keys of the store passwords in the Connect secrets file.
INFLUXDB_PASSWORD_KEY = "influxdb.password"
SEARCH_PASSWORD_KEY = "search.password"

# Properties, not YAML: the Connect runtime has no YAML parser on its classpath.
LOG4J2 = """\
name = metricpipe-connect
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


@dataclass
class ConnectorState:
    """One connector as Connect reports it, for ``metricpipe status``."""

    name: str
    state: str
    tasks: list[str] = field(default_factory=list)
    trace: str = ""

    @property
    def running(self) -> bool:
        return (
            self.state == "RUNNING"
            and bool(self.tasks)
            and all(t == "RUNNING" for t in self.tasks)
        )


def connect_url(config: Config) -> str:
    return f"http://{HOST}:{config.store.connect_port}"


def uses_search(config: Config) -> bool:
    return bool(config.store.search_url) or "opensearch" in config.supervisor.services


def uses_influxdb(config: Config) -> bool:
    return "influxdb" in config.supervisor.services


def secrets_properties(config: Config) -> str:
    """The Connect secrets file: each set store password under its key.

    Every character but ASCII letters and digits is written as a ``\\uXXXX``
    escape, which Java's Properties reads back exactly: leading spaces,
    backslashes, ``#``, ``=`` and non-ASCII survive.
    """

    def escaped(value: str) -> str:
        utf16 = value.encode("utf-16-be")
        units = [
            int.from_bytes(utf16[i : i + 2], "big") for i in range(0, len(utf16), 2)
        ]
        return "".join(
            chr(u) if chr(u).isascii() and chr(u).isalnum() else f"\\u{u:04x}"
            for u in units
        )

    store = config.store
    lines = []
    for key, auth in (
        (
            INFLUXDB_PASSWORD_KEY,
            store.influxdb_auth() if uses_influxdb(config) else None,
        ),
        (SEARCH_PASSWORD_KEY, store.search_auth() if uses_search(config) else None),
    ):
        if auth is not None:
            lines.append(f"{key}={escaped(auth[1])}")
    return "".join(line + "\n" for line in lines)


def _credentials(
    auth: tuple[str, str] | None, secrets_file: Path | None, key: str
) -> dict[str, str]:
    """A sink's store credentials: the user, and the password as a reference
    the worker resolves from the secrets file (never the password itself)."""
    if auth is None:
        return {}
    if secrets_file is None:
        raise ServiceError("connect", f"needs its secrets file for {key}")
    return {
        "store.username": auth[0],
        "store.password": f"${{file:{secrets_file}:{key}}}",
    }


def _common(config: Config, topic: str) -> dict[str, str]:
    store = config.store
    return {
        "topics": topic,
        "tasks.max": str(store.sink_tasks),
        "request.timeout.ms": str(int(store.sink_request_timeout_s * 1000)),
        "retry.backoff.ms": str(store.sink_retry_backoff_ms),
        # Converter errors and records the store rejects (reported by our task
        # through ErrantRecordReporter) go to the sink DLQ, with the error in
        # the record headers; the rest of the batch goes on.
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": config.kafka.topics.sink_dlq.name,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
        "errors.log.enable": "true",
    }


def connector_configs(
    config: Config, secrets_file: Path | None = None
) -> dict[str, dict[str, str]]:
    """Every connector this pipeline runs, by name. ``secrets_file`` is where
    ``secrets_properties`` was written; needed only when a store has credentials."""
    store = config.store
    topics = config.kafka.topics
    connectors: dict[str, dict[str, str]] = {}
    if uses_search(config):
        for kind, topic, prefix in (
            ("rollup", topics.rollup.name, store.rollup_index_prefix),
            ("alert", topics.alerts.name, store.alerts_index_prefix),
        ):
            connectors[f"{store.search_flavor}-{kind}"] = {
                "connector.class": OPENSEARCH_SINK,
                **_common(config, topic),
                "store.url": search_url(store),
                **_credentials(store.search_auth(), secrets_file, SEARCH_PASSWORD_KEY),
                "record.kind": kind,
                "index.prefix": prefix,
            }
    if uses_influxdb(config):
        for kind, topic, prefix in (
            ("rollup", topics.rollup.name, store.influxdb_measurement_prefix),
            ("alert", topics.alerts.name, "alert_"),
        ):
            connectors[f"influxdb-{kind}"] = {
                "connector.class": INFLUXDB_SINK,
                **_common(config, topic),
                "store.url": f"http://{HOST}:{store.influxdb_port}",
                **_credentials(
                    store.influxdb_auth(), secrets_file, INFLUXDB_PASSWORD_KEY
                ),
                "record.kind": kind,
                "influxdb.database": store.influxdb_database,
                "influxdb.retention.policy": RETENTION_POLICY,
                "measurement.prefix": prefix,
            }
    return connectors


def connector_states(config: Config, timeout_s: float = 5.0) -> list[ConnectorState]:
    """Connector and task states, straight from the worker's REST API."""
    response = httpx.get(
        f"{connect_url(config)}/connectors",
        params={"expand": "status"},
        timeout=timeout_s,
    )
    response.raise_for_status()
    states = []
    for name, entry in sorted(response.json().items()):
        status = entry["status"]
        tasks = sorted(status.get("tasks", []), key=lambda t: int(t["id"]))
        trace = status["connector"].get("trace", "") or next(
            (t.get("trace", "") for t in tasks if t.get("trace")), ""
        )
        states.append(
            ConnectorState(
                name=name,
                state=status["connector"]["state"],
                tasks=[str(t["state"]) for t in tasks],
                trace=str(trace)[:2000],
            )
        )
    return states


class ConnectService(Service):
    name = "connect"
    depends_on = ("kafka", "opensearch", "influxdb")

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.config.store.connect_port}"

    @property
    def properties_file(self) -> Path:
        return self.workspace.conf / "connect" / "worker.properties"

    @property
    def secrets_file(self) -> Path:
        """The store passwords the connectors reference (0600). Absolute: the
        provider's allowed.paths must be, and the worker runs in its data dir."""
        return (self.workspace.conf / "connect" / "store-secrets.properties").absolute()

    def worker_properties(self) -> str:
        store = self.config.store
        group = store.connect_group_id
        plugins = installers.artifact_path(by_name("metricpipe-sink"))
        lines = {
            "bootstrap.servers": self.config.kafka.bootstrap,
            "group.id": group,
            "listeners": f"http://{HOST}:{store.connect_port}",
            "rest.advertised.host.name": HOST,
            "rest.advertised.port": str(store.connect_port),
            "plugin.path": str(plugins),
            # Keys are the plain string <series_id>|<window_start_ms>; values are
            # JSON objects without Connect's schema envelope.
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "config.storage.topic": f"{group}-configs",
            "offset.storage.topic": f"{group}-offsets",
            "status.storage.topic": f"{group}-status",
            # One broker: internal topics cannot have more than one replica.
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.flush.interval.ms": str(store.sink_offset_flush_interval_ms),
            "scheduled.rebalance.max.delay.ms": "0",
            "consumer.auto.offset.reset": "earliest",
            # Store passwords reach the connectors as ${file:...} references,
            # resolved by the worker; the provider may read this folder only.
            "config.providers": "file",
            "config.providers.file.class": FILE_CONFIG_PROVIDER,
            "config.providers.file.param.allowed.paths": str(self.secrets_file.parent),
        }
        # The worker, and the producers, consumers and admin clients it makes for
        # connectors, each take the security settings (kafka.security_protocol).
        security = self.config.kafka.java_client()
        del security["bootstrap.servers"]
        for prefix in ("", "producer.", "consumer.", "admin."):
            lines |= {prefix + k: v for k, v in security.items()}
        body = "\n".join(f"{k}={properties_value(v)}" for k, v in lines.items())
        return (
            "# Generated by metricpipe from metricpipe.toml; edits are overwritten.\n"
            + body
            + "\n"
        )

    def prepare(self) -> None:
        conf = self.properties_file.parent
        conf.mkdir(parents=True, exist_ok=True)
        # 0600: with sasl_ssl it carries the Kafka password.
        write_private(self.properties_file, self.worker_properties())
        (conf / "log4j2.properties").write_text(LOG4J2)
        # The ${file:<path>:<key>} syntax cannot hold a path with ':' or '}'.
        if any(c in str(self.secrets_file) for c in ":}"):
            raise ServiceError(
                self.name,
                f"cannot reference its secrets file {self.secrets_file}: the "
                "path holds ':' or '}'; use a --workspace path without them",
            )
        # 0600, and written even when empty so a stale password does not stay.
        write_private(self.secrets_file, secrets_properties(self.config))

    def process(self) -> ProcessSpec:
        heap = self.config.store.connect_heap_mb
        plugins = installers.artifact_path(by_name("metricpipe-sink"))
        if not any(plugins.glob("*/*.jar")):
            raise ServiceError(
                self.name, f"has no sink plugin in {plugins}; run `metricpipe setup`"
            )
        return ProcessSpec(
            [
                "java",
                f"-Xms{heap}m",
                f"-Xmx{heap}m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                "-Dlog4j2.configurationFile="
                + str(self.properties_file.parent / "log4j2.properties"),
                "-cp",
                java_classpath("connect"),
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(self.properties_file),
            ]
        )

    def probe(self) -> bool:
        base = connect_url(self.config)
        if httpx.get(f"{base}/", timeout=2).status_code != 200:
            return False
        plugins = httpx.get(f"{base}/connector-plugins", timeout=2)
        if plugins.status_code != 200:
            return False
        listed = {str(p["class"]) for p in plugins.json()}
        return {OPENSEARCH_SINK, INFLUXDB_SINK} <= listed

    def after_ready(self) -> None:
        try:
            self._register()
        except httpx.HTTPError as exc:
            raise ServiceError(
                self.name, f"could not set up its connectors: {exc}"
            ) from exc

    def _register(self) -> None:
        store = self.config.store
        if uses_search(self.config):
            # Templates first: the first document of a day creates its index.
            install_templates(store)
            prune_indices(store)

        base = connect_url(self.config)
        wanted = connector_configs(self.config, self.secrets_file)
        for name, body in wanted.items():
            response = httpx.put(
                f"{base}/connectors/{name}/config", json=body, timeout=30
            )
            if response.status_code not in (200, 201):
                raise ServiceError(
                    self.name,
                    f"refused connector {name} ({response.status_code}): "
                    f"{response.text[:500]}",
                )
            log.info("Connector %s registered", name)

        deadline = time.monotonic() + store.connectors_ready_timeout_s
        while True:
            states = {s.name: s for s in connector_states(self.config)}
            pending = [n for n in wanted if not (n in states and states[n].running)]
            if not pending:
                return
            failed = [
                states[n]
                for n in pending
                if n in states and "FAILED" in ([states[n].state, *states[n].tasks])
            ]
            if failed:
                raise ServiceError(
                    self.name,
                    f"connector {failed[0].name} failed: {failed[0].trace}",
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    self.name,
                    f"connectors {pending} not RUNNING within "
                    f"{store.connectors_ready_timeout_s:g} s",
                )
            time.sleep(0.5)


def sink_dlq_size(config: Config, timeout_s: float = 5.0) -> int:
    """How many records the stores have rejected so far: the sink DLQ's size."""
    from confluent_kafka import Consumer, TopicPartition

    topic = config.kafka.topics.sink_dlq.name
    consumer = Consumer({**config.kafka.librdkafka(), "group.id": "metricpipe-status"})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        total = 0
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            total += high - low
        return total
    finally:
        consumer.close()


def describe(states: list[ConnectorState]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "state": s.state, "tasks": s.tasks, "trace": s.trace}
        for s in states
    ]
