"""The load generator: realistic, deterministic, and really delivered."""

import itertools
import json
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from metricpipe.bench.loadgen import LoadSpec, messages, produce
from metricpipe.testing import TestPipeline


def take(spec: LoadSpec, n: int) -> list[tuple[bytes, bytes]]:
    return list(itertools.islice(messages(spec, 1_764_849_600_000), n))


@pytest.mark.fast
def test_same_seed_same_messages_other_seed_other_values() -> None:
    spec = LoadSpec(hosts=3, seed=7)

    assert take(spec, 500) == take(spec, 500)
    assert take(spec, 500) != take(LoadSpec(hosts=3, seed=8), 500)


@pytest.mark.fast
def test_messages_have_telegraf_json_shape() -> None:
    spec = LoadSpec(hosts=2)
    batch = take(spec, spec.series_count() * 3)
    kinds: set[type] = set()

    for key, value in batch:
        metric = json.loads(value)
        assert set(metric) == {"name", "tags", "fields", "timestamp"}
        assert metric["tags"]["host"].encode() == key
        assert metric["timestamp"] >= 1_764_849_600_000
        kinds |= {type(v) for v in metric["fields"].values()}

    assert kinds == {float, int, str}
    series = {
        (json.loads(v)["name"], json.dumps(json.loads(v)["tags"])) for _, v in batch
    }
    assert len(series) == spec.series_count()


@pytest.mark.fast
def test_counters_grow_except_at_resets() -> None:
    spec = LoadSpec(hosts=1, counter_reset_every=50)
    previous: dict[str, int] = {}
    resets = grows = 0

    for _, value in take(spec, spec.series_count() * 400):
        metric = json.loads(value)
        if metric["name"] != "net" or metric["tags"]["interface"] != "eth0":
            continue
        current = metric["fields"]["bytes_recv"]
        if "v" in previous:
            if current < previous["v"]:
                resets += 1
            else:
                grows += 1
        previous["v"] = current

    assert grows > 300
    assert 1 <= resets <= 30


@pytest.mark.integration
def test_every_message_is_delivered(kafka_pipeline: TestPipeline) -> None:
    bootstrap = kafka_pipeline.config.kafka.bootstrap
    topic = kafka_pipeline.config.kafka.topics.rollup.name
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": str(uuid.uuid4())})
    parts = [TopicPartition(topic, p) for p in range(3)]
    before = sum(consumer.get_watermark_offsets(tp, 10)[1] for tp in parts)

    result = produce(bootstrap, topic, LoadSpec(hosts=5), count=20_000)

    after = sum(consumer.get_watermark_offsets(tp, 10)[1] for tp in parts)
    consumer.close()
    assert result.delivery_errors == 0
    assert result.sent == 20_000
    assert after - before == 20_000
