"""The real Kafka 4 broker, started and supervised through the CLI."""

import ipaddress
import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from metricpipe.testing import TestPipeline, cli, running_pipeline

pytestmark = pytest.mark.integration


def wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def status(pipeline: TestPipeline) -> dict:  # type: ignore[type-arg]
    result = pipeline.cli_nocfg("status", "--json")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def roundtrip(bootstrap: str, topic: str, payload: bytes) -> bytes:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"k", value=payload)
    assert producer.flush(15) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if (
                message is not None
                and not message.error()
                and message.value() == payload
            ):
                return payload
    finally:
        consumer.close()
    raise AssertionError(f"{payload!r} never came back from {topic}")


def test_status_shows_kafka_ready(kafka_pipeline: TestPipeline) -> None:
    shown = status(kafka_pipeline)

    assert shown["running"] is True
    (kafka,) = shown["services"]
    assert kafka["name"] == "kafka"
    assert kafka["state"] == "ready"
    assert kafka["endpoint"] == kafka_pipeline.config.kafka.bootstrap
    assert kafka["pid"] > 0


def test_topics_exist_with_explicit_settings(kafka_pipeline: TestPipeline) -> None:
    kafka = kafka_pipeline.config.kafka
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    topics = admin.list_topics(timeout=10).topics

    for topic in kafka.topics.all():
        assert topic.name in topics
        assert len(topics[topic.name].partitions) == topic.partitions

    resource = ConfigResource(ConfigResource.Type.TOPIC, kafka.topics.raw.name)
    configs = admin.describe_configs([resource])[resource].result()
    assert configs["max.message.bytes"].value == str(kafka.topics.raw.max_message_bytes)
    assert configs["retention.ms"].value == str(kafka.topics.raw.retention_ms)


def test_produce_and_consume(kafka_pipeline: TestPipeline) -> None:
    payload = f"hello-{uuid.uuid4()}".encode()

    roundtrip(kafka_pipeline.config.kafka.bootstrap, "metrics.raw", payload)


def test_listeners_are_loopback_only(kafka_pipeline: TestPipeline) -> None:
    import psutil

    pid = status(kafka_pipeline)["services"][0]["pid"]
    listening = [
        c.laddr for c in psutil.Process(pid).net_connections() if c.status == "LISTEN"
    ]
    assert listening, "the broker listens on nothing"
    assert all(is_loopback(addr.ip) for addr in listening), listening


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped and mapped.is_loopback))


def test_killed_broker_is_restarted_and_keeps_data(tmp_path: Path) -> None:
    with running_pipeline(tmp_path, ["kafka"]) as pipeline:
        bootstrap = pipeline.config.kafka.bootstrap
        before = f"before-{uuid.uuid4()}".encode()
        roundtrip(bootstrap, "metrics.rollup", before)
        pid = status(pipeline)["services"][0]["pid"]

        os.kill(pid, signal.SIGKILL)

        wait_for(
            lambda: status(pipeline)["services"][0]["state"] in ("failed", "starting"),
            10,
            "status to report the dead broker",
        )
        wait_for(
            lambda: status(pipeline)["services"][0]["state"] == "ready",
            120,
            "the supervisor to restart the broker",
        )
        kafka = status(pipeline)["services"][0]
        assert kafka["restarts"] == 1
        assert kafka["pid"] != pid

        # What was acknowledged before the crash is still there.
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4()}"}
        )
        parts = [TopicPartition("metrics.rollup", p, 0) for p in range(3)]
        consumer.assign(parts)
        seen = set()
        deadline = time.monotonic() + 30
        while before not in seen and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and not message.error():
                seen.add(message.value())
        consumer.close()
        assert before in seen


def test_down_leaves_no_process(tmp_path: Path) -> None:
    with running_pipeline(tmp_path, ["kafka"]) as pipeline:
        state = pipeline.state()
        pids = pipeline.leftover_pids(state)
        assert len(pids) == 2  # the supervisor and the broker

        result = pipeline.cli("down")

        assert result.returncode == 0, result.stderr
        assert "Stopped." in result.stderr
        assert pipeline.leftover_pids(state) == []
        after = pipeline.cli_nocfg("status")
        assert after.returncode == 6
        assert "No pipeline is running" in after.stderr


def test_second_up_in_same_workspace_is_refused(kafka_pipeline: TestPipeline) -> None:
    result = kafka_pipeline.cli("up")

    assert result.returncode == 5
    assert "already run by supervisor pid" in result.stderr


def test_second_detached_up_is_refused_and_keeps_state(
    kafka_pipeline: TestPipeline,
) -> None:
    before = status(kafka_pipeline)

    result = kafka_pipeline.cli("up", "--detach")

    assert result.returncode == 5
    assert "already run by supervisor pid" in result.stderr
    assert status(kafka_pipeline) == before


def test_lag_uses_the_running_pipelines_config(kafka_pipeline: TestPipeline) -> None:
    # Only --workspace: the broker is on a free port, not the default 9092.
    result = kafka_pipeline.cli_nocfg("lag", "--json")

    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)


def test_lag_against_unreachable_broker_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "metricpipe.toml"
    config.write_text('[kafka]\nbootstrap_servers = "127.0.0.1:1"\n')

    result = cli("lag", "--config", str(config), "--workspace", str(tmp_path))

    assert result.returncode == 6
    assert "127.0.0.1:1" in result.stderr
