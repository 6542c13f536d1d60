"""The local Apache Kafka 4 broker, in KRaft combined mode (broker + controller).

Assembled from Maven Central jars (``kafka_2.13`` plus a log4j2 binding) and run as
``java -cp <jars> kafka.Kafka server.properties``. Its storage is formatted once
with Kafka's own storage tool; the cluster id is kept in the workspace so restarts
reuse the same log.
"""

import base64
import logging
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from metricpipe.broker.config import properties_value, scram_jaas
from metricpipe.broker.tls import scram_credential, write_private
from metricpipe.errors import ConfigError, ServiceError
from metricpipe.provision import installers
from metricpipe.provision.components import by_name
from metricpipe.supervisor.service import ProcessSpec, Service

log = logging.getLogger(__name__)

NODE_ID = 1

LOG4J2 = """\
Configuration:
  name: metricpipe-kafka
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
      - name: state.change.logger
        level: WARN
"""


def java_classpath(component: str) -> str:
    libs = installers.artifact_path(by_name(component))
    if not libs.is_dir() or not any(libs.glob("*.jar")):
        raise ServiceError(
            component,
            f"has no jars in {libs}; run `metricpipe setup` (or `make setup`) first",
        )
    return str(libs / "*")


def _argfile_quoted(arg: str) -> str:
    """One argument of a java @argfile, where quotes and backslashes are syntax."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


class KafkaService(Service):
    name = "kafka"

    def validate(self) -> None:
        kafka = self.config.kafka
        # kafka.port == kafka.controller_port is found by the supervisor's
        # port_clashes, with every other port.
        for topic in kafka.topics.all():
            if topic.max_message_bytes > 100 * 1024 * 1024:
                raise ConfigError(
                    f"kafka.topics.{topic.name}.max_message_bytes",
                    topic.max_message_bytes,
                    "must be at most 100 MiB",
                )

    @property
    def endpoint(self) -> str:
        return self.config.kafka.bootstrap

    def ports(self) -> dict[str, tuple[str, int]]:
        kafka = self.config.kafka
        return {
            "kafka.port": (kafka.host, kafka.port),
            "kafka.controller_port": (kafka.host, kafka.controller_port),
        }

    @property
    def properties_file(self) -> Path:
        return self.workspace.conf / "kafka" / "server.properties"

    def server_properties(self) -> str:
        kafka = self.config.kafka
        largest = max(t.max_message_bytes for t in kafka.topics.all())
        voter = f"{NODE_ID}@{kafka.host}:{kafka.controller_port}"
        client = "SASL_SSL" if kafka.secured else "PLAINTEXT"
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": voter,
            "listeners": (
                f"{client}://{kafka.host}:{kafka.port},"
                f"CONTROLLER://{kafka.host}:{kafka.controller_port}"
            ),
            "advertised.listeners": f"{client}://{kafka.host}:{kafka.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            # The controller listener stays plaintext on loopback: only this
            # node's own broker half talks to it (documented in operating.md).
            "listener.security.protocol.map": (
                f"CONTROLLER:PLAINTEXT,{client}:{client}"
            ),
            "log.dirs": str(self.data_dir / "log"),
            # One node: internal topics cannot have more than one replica.
            "offsets.topic.replication.factor": "1",
            # Fewer offset partitions: the group coordinator comes up faster on
            # a small machine, and one node gains nothing from fifty.
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "num.partitions": "3",
            # Topics are created by metricpipe with explicit settings; a typo in a
            # client must not create a stray topic.
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(largest),
            "replica.fetch.max.bytes": str(largest),
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.check.interval.ms": "60000",
        }
        if kafka.secured:
            mechanism = kafka.sasl_mechanism
            jaas_key = f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config"
            lines |= {
                "sasl.enabled.mechanisms": mechanism,
                "sasl.mechanism.inter.broker.protocol": mechanism,
                # The broker logs in to itself as the pipeline's user.
                jaas_key: scram_jaas(kafka.sasl_username, kafka.password()),
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(self.keystore_file),
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": kafka.tls_ca_file,
                "ssl.client.auth": "none",
            }
        body = "\n".join(f"{k}={properties_value(v)}" for k, v in lines.items())
        return (
            "# Generated by metricpipe from metricpipe.toml; edits are overwritten.\n"
            + (body + "\n")
        )

    def _cluster_id(self) -> str:
        id_file = self.data_dir / "cluster.id"
        if id_file.exists():
            return id_file.read_text().strip()
        cluster_id = "-"
        # An id starting with '-' would be read as an option by the storage tool;
        # Kafka's own Uuid.randomUuid() skips those for the same reason.
        while cluster_id.startswith("-"):
            raw = base64.urlsafe_b64encode(uuid.uuid4().bytes)
            cluster_id = raw.decode().rstrip("=")
        id_file.write_text(cluster_id + "\n")
        return cluster_id

    @property
    def keystore_file(self) -> Path:
        return self.properties_file.parent / "keystore.pem"

    @property
    def _scram_marker(self) -> Path:
        return self.data_dir / "scram.user"

    def prepare(self) -> None:
        kafka = self.config.kafka
        conf = self.properties_file.parent
        conf.mkdir(parents=True, exist_ok=True)
        # server.properties carries the broker's SASL password when secured.
        write_private(self.properties_file, self.server_properties())
        (conf / "log4j2.yaml").write_text(LOG4J2)
        if kafka.secured:
            # Kafka's PEM keystore wants the key and its chain in one file.
            key = Path(kafka.tls_key_file).read_text()
            chain = Path(kafka.tls_cert_file).read_text()
            write_private(self.keystore_file, key.rstrip() + "\n" + chain)

        log_dir = self.data_dir / "log"
        if (log_dir / "meta.properties").exists():
            if kafka.secured and not self._has_scram_user():
                raise ServiceError(
                    self.name,
                    f"its storage in {log_dir} was formatted without a SCRAM "
                    f"credential for {kafka.sasl_username!r}",
                    "start sasl_ssl in a fresh --workspace (credentials are added "
                    "when the storage is formatted)",
                )
            return

        # Format storage once, with Kafka's own tool, as kafka-storage.sh would.
        log_dir.mkdir(parents=True, exist_ok=True)
        tool_args = [
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            self._cluster_id(),
            "--config",
            str(self.properties_file),
            "--ignore-formatted",
        ]
        if kafka.secured:
            # A salted SCRAM hash is enough to log in: it must not be visible
            # in the process list, so it goes through a 0600 java @argfile.
            credential = scram_credential(
                kafka.sasl_mechanism, kafka.sasl_username, kafka.password()
            )
            tool_args += ["--add-scram", credential]
        argfile = self.properties_file.parent / "format.args"
        write_private(argfile, "\n".join(map(_argfile_quoted, tool_args)) + "\n")
        try:
            result = subprocess.run(
                [*self._java(), f"@{argfile}"],
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            argfile.unlink(missing_ok=True)
        with self.log_file.open("a") as out:
            out.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise ServiceError(
                self.name,
                "could not format its storage with kafka.tools.StorageTool",
                (result.stdout + result.stderr)[-2000:],
            )
        if kafka.secured:
            self._scram_marker.write_text(
                f"{kafka.sasl_mechanism} {kafka.sasl_username}\n"
            )

    def _has_scram_user(self) -> bool:
        kafka = self.config.kafka
        marker = self._scram_marker
        wanted = f"{kafka.sasl_mechanism} {kafka.sasl_username}"
        return marker.exists() and marker.read_text().strip() == wanted

    def _java(self) -> list[str]:
        heap = self.config.kafka.heap_mb
        return [
            "java",
            f"-Xms{heap}m",
            f"-Xmx{heap}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j2.configurationFile={self.properties_file.parent / 'log4j2.yaml'}",
            "-cp",
            java_classpath("kafka"),
        ]

    def process(self) -> ProcessSpec:
        return ProcessSpec([*self._java(), "kafka.Kafka", str(self.properties_file)])

    def probe(self) -> bool:
        admin = AdminClient(
            {
                **self.config.kafka.librdkafka(),
                "socket.timeout.ms": 2000,
                "log_level": 0,
            }
        )
        metadata = admin.list_topics(timeout=2)
        if NODE_ID not in metadata.brokers:
            return False

        # After a crash the broker answers before its partitions have leaders
        # again; clients would see NOT_LEADER errors, so that is not ready yet.
        ours = {t.name for t in self.config.kafka.topics.all()}
        return all(
            part.leader >= 0 and part.error is None
            for name, topic in metadata.topics.items()
            if name in ours
            for part in topic.partitions.values()
        )

    def after_ready(self) -> None:
        from metricpipe.broker.topics import ensure_topics, wait_for_group_coordinator

        ensure_topics(self.config.kafka)
        wait_for_group_coordinator(self.config.kafka)
