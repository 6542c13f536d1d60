"""Test helpers: produce rollups and alerts, read the stores, wait with deadlines."""

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer
from confluent_kafka.admin import AdminClient

from metricpipe.store.influxdb import influx_query
from metricpipe.testing import TestPipeline

T = TypeVar("T")

WINDOW_MS = 10_000


def wait_for(
    check: Callable[[], T | None], timeout_s: float, what: str, every_s: float = 0.2
) -> T:
    """Poll ``check`` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}: {last}")


def window_now() -> int:
    """A window start near now: InfluxDB drops points beyond the retention."""
    now_ms = int(time.time() * 1000)
    return now_ms - now_ms % WINDOW_MS - 60_000


@dataclass
class Stores:
    pipeline: TestPipeline

    @property
    def bootstrap(self) -> str:
        return self.pipeline.config.kafka.bootstrap

    @property
    def search(self) -> str:
        return f"http://127.0.0.1:{self.pipeline.config.store.opensearch_port}"

    @property
    def influx_port(self) -> int:
        return self.pipeline.config.store.influxdb_port

    def produce(self, topic: str, records: list[tuple[str, Any]]) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all"})
        for key, value in records:
            body = value if isinstance(value, str) else json.dumps(value)
            producer.produce(topic, key=key, value=body)
        assert producer.flush(30) == 0, "records not delivered to Kafka"

    def document(self, index: str, doc_id: str) -> dict[str, Any] | None:
        response = httpx.get(
            f"{self.search}/{index}/_doc/{doc_id.replace('|', '%7C')}", timeout=5
        )
        # 503: the index was just created and its shard is not active yet.
        if response.status_code in (404, 503):
            return None
        response.raise_for_status()
        return dict(response.json())

    def count_docs(self, pattern: str, host: str) -> int:
        httpx.post(f"{self.search}/{pattern}/_refresh", timeout=10)
        response = httpx.get(
            f"{self.search}/{pattern}/_count",
            params={"q": f"tags.host:{host}"},
            timeout=10,
        )
        if response.status_code in (404, 503):
            return 0
        response.raise_for_status()
        return int(response.json()["count"])

    def points(self, measurement: str, host: str) -> list[dict[str, Any]]:
        series = influx_query(
            self.influx_port,
            f'SELECT * FROM "{measurement}" WHERE "host" = \'{host}\'',
            database="metrics",
            auth=self.pipeline.config.store.influxdb_auth(),
        )
        rows = []
        for serie in series:
            for values in serie["values"]:
                rows.append(dict(zip(serie["columns"], values, strict=True)))
        return rows

    def dlq(self, timeout_s: float = 5.0) -> list[tuple[str, dict[str, str]]]:
        """Every record on the sink DLQ: its key and its headers."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"dlq-reader-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        topic = self.pipeline.config.kafka.topics.sink_dlq.name
        consumer.subscribe([topic])
        found = []
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                headers = {
                    k: (v or b"").decode(errors="replace")
                    for k, v in (message.headers() or [])
                }
                key = (message.key() or b"").decode()
                found.append((key, headers))
        finally:
            consumer.close()
        return found

    def caught_up(self, connectors: list[str]) -> bool:
        """True when every sink connector's committed offsets reach the log end."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": "lag-reader"}
        )
        try:
            for name in connectors:
                group = ConsumerGroupTopicPartitions(f"connect-{name}")
                futures = admin.list_consumer_group_offsets([group])
                result = next(iter(futures.values())).result()
                if not result.topic_partitions:
                    return False
                for tp in result.topic_partitions:
                    _, high = consumer.get_watermark_offsets(tp, timeout=5)
                    if tp.offset < high:
                        return False
        finally:
            consumer.close()
        return True


def rollup(
    host: str, series: str, window_start: int, mean: Any = 2.0
) -> dict[str, Any]:
    return {
        "series_id": series,
        "measurement": "cpu",
        "tags": {"host": host, "cpu": "cpu-total"},
        "field": "usage_idle",
        "window_start": window_start,
        "window_end": window_start + WINDOW_MS,
        "window_s": 10,
        "count": 5,
        "sum": 10.0,
        "mean": mean,
        "min": 1.0,
        "max": 3.0,
        "last": 2.5,
        "stddev": 0.5,
        "p50": 2.0,
        "p95": 2.9,
        "p99": 3.0,
    }


def alert(host: str, series: str, window_start: int) -> dict[str, Any]:
    return {
        "series_id": series,
        "measurement": "cpu",
        "tags": {"host": host, "cpu": "cpu-total"},
        "field": "usage_idle",
        "window_start": window_start,
        "window_end": window_start + WINDOW_MS,
        "window_s": 10,
        "value": 99.5,
        "expected": 50.0,
        "score": 4.2,
        "severity": "critical",
    }


def key_of(value: dict[str, Any]) -> str:
    return f"{value['series_id']}|{value['window_start']}"
