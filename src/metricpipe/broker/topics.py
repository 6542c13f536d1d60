"""Create the pipeline's topics with explicit settings, and keep them in line."""

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from metricpipe.broker.config import KafkaConfig, TopicConfig
from metricpipe.errors import ServiceError

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
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
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
