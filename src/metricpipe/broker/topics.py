"""Create the pipeline's topics with explicit settings, and keep them in line."""

import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from metricpipe.broker.config import KafkaConfig, TopicConfig
from metricpipe.errors import NotRunningError, ServiceError

log = logging.getLogger(__name__)


def topic_configs(topic: TopicConfig) -> dict[str, str]:
    return {
        "retention.ms": str(topic.retention_ms),
        "max.message.bytes": str(topic.max_message_bytes),
        "cleanup.policy": "delete",
        # Event time comes from the producer; Spark and lag use it.
        "message.timestamp.type": "CreateTime",
    }


def ensure_topics(kafka: KafkaConfig, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics and bring existing ones to the configured settings.

    Returns the names of the topics that were created.
    """
    admin = AdminClient(kafka.librdkafka())
    existing = admin.list_topics(timeout=timeout_s).topics
    wanted = kafka.topics.all()

    missing = [t for t in wanted if t.name not in existing]
    created: list[str] = []
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    t.name,
                    num_partitions=t.partitions,
                    replication_factor=1,
                    config=topic_configs(t),
                )
                for t in missing
            ],
            operation_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
                log.info("Created topic %s", name)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise ServiceError(
                        "kafka", f"could not create topic {name}: {exc}"
                    ) from exc

    present = [t for t in wanted if t.name in existing]
    for topic in present:
        partitions = len(existing[topic.name].partitions)
        if partitions != topic.partitions:
            log.warning(
                "Topic %s has %d partitions, config asks %d; left as is (partitions "
                "can only grow and keys would move)",
                topic.name,
                partitions,
                topic.partitions,
            )
    if present:
        resources = [
            ConfigResource(
                ConfigResource.Type.TOPIC,
                t.name,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    for k, v in topic_configs(t).items()
                ],
            )
            for t in present
        ]
        for future in admin.incremental_alter_configs(resources).values():
            future.result()
    return created


def wait_for_group_coordinator(kafka: KafkaConfig, timeout_s: float = 120.0) -> None:
    """Block until consumer groups work, so no stage's first commit fails.

    The broker creates its offsets topic on the first group request. Asking for
    the committed offsets of a group that never commits does that without
    creating a group anyone would see.
    """
    consumer = Consumer(
        {
            **kafka.librdkafka(),
            "group.id": f"metricpipe-probe-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                consumer.committed(
                    [TopicPartition(kafka.topics.raw.name, 0)], timeout=5
                )
                return
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    reason = f"has no group coordinator after {timeout_s:g} s: {exc}"
                    raise ServiceError("kafka", reason) from exc
                time.sleep(0.2)
    finally:
        consumer.close()


def check_reachable(kafka: KafkaConfig, topic: str, timeout_s: float = 10.0) -> None:
    """Fail fast, naming the address or topic, instead of timing out per record."""
    bootstrap = kafka.bootstrap
    admin = AdminClient({**kafka.librdkafka(), "log_level": 0})
    try:
        topics = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise NotRunningError(
            f"Kafka at {bootstrap} did not answer within {timeout_s:g} s ({exc}); "
            "is the pipeline up (`metricpipe status`), or is kafka.bootstrap_servers "
            "right?"
        ) from exc
    if topic not in topics:
        raise NotRunningError(
            f"topic {topic!r} does not exist on {bootstrap}; existing: "
            f"{', '.join(sorted(t for t in topics if not t.startswith('__')))}"
        )
