"""Telegraf, the collection stage: host metrics into the raw Kafka topic.

Telegraf is ready when its first metric has reached the raw topic: the probe reads
the topic from the end offsets taken before Telegraf started and looks for a record
keyed by this host. A Telegraf that runs but cannot write is therefore not ready.
"""

import logging
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition

from metricpipe.broker.tls import write_private
from metricpipe.collect.telegraf_conf import hostname, telegraf_toml
from metricpipe.errors import ConfigError, ServiceError
from metricpipe.provision import installers
from metricpipe.provision.components import by_name
from metricpipe.supervisor.service import ProcessSpec, Service

log = logging.getLogger(__name__)

# One probe call must stay well under the supervisor's patience for a probe.
PROBE_POLL_S = 1.0
OFFSETS_TIMEOUT_S = 5.0


class TelegrafService(Service):
    name = "telegraf"
    depends_on = ("kafka",)

    _consumer: Consumer | None = None
    _start_offsets: list[TopicPartition] | None = None

    def validate(self) -> None:
        collect = self.config.collect
        raw = self.config.kafka.topics.raw
        if collect.max_message_bytes > raw.max_message_bytes:
            raise ConfigError(
                "collect.max_message_bytes",
                collect.max_message_bytes,
                f"must not exceed kafka.topics.raw.max_message_bytes "
                f"({raw.max_message_bytes}), or the broker rejects the message and "
                "Telegraf drops its whole batch",
                f"set it to {raw.max_message_bytes} or less",
            )

    @property
    def endpoint(self) -> str:
        return f"{self.config.kafka.bootstrap}/{self.config.kafka.topics.raw.name}"

    @property
    def config_file(self) -> Path:
        return self.workspace.conf / "telegraf" / "telegraf.conf"

    @property
    def host(self) -> str:
        return hostname(self.config)

    def prepare(self) -> None:
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        # 0600: it holds the Kafka password (kafka.security_protocol = sasl_ssl)
        # and the InfluxDB password (store.influxdb_username) when they are set.
        write_private(self.config_file, telegraf_toml(self.config))
        self._close_consumer()

        # Offsets before Telegraf starts: any later record keyed by this host was
        # written by this Telegraf. If Kafka does not answer now, the first probe
        # takes them instead; Telegraf writes again every flush, so nothing is lost.
        try:
            self._start_offsets = self._end_offsets()
        except (KafkaException, ServiceError) as exc:
            log.warning("No end offsets of the raw topic yet: %s", exc)
            self._start_offsets = None

    def process(self) -> ProcessSpec:
        binary = installers.artifact_path(by_name("telegraf"))
        if not binary.exists():
            raise ServiceError(
                self.name,
                f"has no binary at {binary}; run `metricpipe setup` (or `make setup`)",
            )
        return ProcessSpec([str(binary), "--config", str(self.config_file)])

    def _new_consumer(self) -> Consumer:
        return Consumer(
            {
                **self.config.kafka.librdkafka(),
                # Partitions are assigned by hand and nothing is committed, so no
                # consumer group is ever created on the broker.
                "group.id": "metricpipe-telegraf-probe",
                "enable.auto.commit": False,
                "socket.timeout.ms": 2000,
                "log_level": 0,
            }
        )

    def _end_offsets(self) -> list[TopicPartition]:
        topic = self.config.kafka.topics.raw.name
        consumer = self._new_consumer()
        try:
            metadata = consumer.list_topics(topic, timeout=OFFSETS_TIMEOUT_S)
            partitions = metadata.topics[topic].partitions
            if not partitions:
                raise ServiceError(
                    self.name, f"cannot write: the topic {topic!r} does not exist"
                )
            offsets = []
            for partition in sorted(partitions):
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=OFFSETS_TIMEOUT_S
                )
                offsets.append(TopicPartition(topic, partition, high))
            return offsets
        finally:
            consumer.close()

    def probe(self) -> bool:
        if self._consumer is None:
            if self._start_offsets is None:
                self._start_offsets = self._end_offsets()
            self._consumer = self._new_consumer()
            self._consumer.assign(self._start_offsets)

        host = self.host.encode()
        for message in self._consumer.consume(num_messages=1000, timeout=PROBE_POLL_S):
            if message.error() is None and message.key() == host:
                log.info("First metric of %s reached %s", self.host, message.topic())
                return True
        return False

    def after_ready(self) -> None:
        self._close_consumer()

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
