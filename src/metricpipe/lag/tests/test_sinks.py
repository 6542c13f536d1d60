"""Sink throughput and errors, read from a real broker."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from metricpipe.lag.offsets import LagReader
from metricpipe.lag.sinks import CONNECTOR_HEADER, SinkMeter
from metricpipe.testing import TestPipeline

pytestmark = pytest.mark.integration


def test_rates_from_commits_and_errors_from_dlq_headers(
    kafka_pipeline: TestPipeline,
) -> None:
    kafka = kafka_pipeline.config.kafka
    connector = f"sink-{uuid.uuid4().hex[:8]}"
    group = f"connect-{connector}"
    committer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group})
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    reader = LagReader(kafka.bootstrap)
    meter = SinkMeter(kafka.bootstrap, kafka.topics.sink_dlq.name)

    producer.produce(kafka.topics.rollup.name, value=b"x", partition=0)
    producer.flush(10)
    committer.commit(
        offsets=[TopicPartition(kafka.topics.rollup.name, 0, 100)], asynchronous=False
    )
    first = {r["connector"]: r for r in meter.rows(reader.read([group]))}

    for _ in range(2):
        producer.produce(
            kafka.topics.sink_dlq.name,
            value=b"{}",
            headers=[(CONNECTOR_HEADER, connector.encode())],
        )
    producer.flush(10)
    time.sleep(1.0)  # the rate is over wall time between two reads
    committer.commit(
        offsets=[TopicPartition(kafka.topics.rollup.name, 0, 150)], asynchronous=False
    )
    second = {r["connector"]: r for r in meter.rows(reader.read([group]))}
    committer.close()

    assert first[connector]["committed"] == 100
    assert "records_per_s" not in first[connector]
    assert second[connector]["committed"] == 150
    rate = second[connector]["records_per_s"]
    assert isinstance(rate, float) and 10 < rate < 50
    assert second[connector]["errors"] == 2
