"""Follow a canary metric through every hop of a running pipeline.

``metricpipe verify`` produces a few points of a series no one else writes, then
watches for them on ``metrics.raw``, for their rollup on ``metrics.rollup``, for
the rollup's document in the search store and for its point in InfluxDB. Each hop
reports its latency since the canary was produced. The closed window is then
reconciled: the raw points seen equal the rollup count each store holds.

Results go to InfluxDB's pipeline database (measurements ``verify`` and
``verify_reconcile``), where the Pipeline dashboard shows them.
"""

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from confluent_kafka import Consumer, Producer, TopicPartition

from metricpipe.config import Config

log = logging.getLogger(__name__)

CANARY_MEASUREMENT = "metricpipe_canary"
CANARY_HOST = "metricpipe-verify"
CANARY_POINTS = 3
POLL_S = 0.25

HOPS = ("metrics.raw", "metrics.rollup", "search", "influxdb")


@dataclass
class Hop:
    name: str
    ok: bool = False
    skipped: bool = False
    latency_ms: float | None = None
    detail: str = ""


@dataclass
class VerifyResult:
    canary: str
    window_start: int
    hops: list[Hop] = field(default_factory=list)
    reconciliation: dict[str, Any] = field(default_factory=dict)
    #: Raw records retention deleted before the Spark job read them, as the job
    #: last published it (cumulative); None when it published nothing yet.
    data_loss_messages: int | None = None

    @property
    def ok(self) -> bool:
        hops_ok = all(h.ok or h.skipped for h in self.hops)
        return hops_ok and bool(self.reconciliation.get("ok"))

    @property
    def first_failure(self) -> Hop | None:
        return next((h for h in self.hops if not (h.ok or h.skipped)), None)

    def as_dict(self) -> dict[str, Any]:
        failed = self.first_failure
        return {
            "ok": self.ok,
            "canary": self.canary,
            "window_start": self.window_start,
            "hops": [asdict(h) for h in self.hops],
            "reconciliation": self.reconciliation,
            "data_loss_messages": self.data_loss_messages,
            "first_failed_hop": failed.name if failed else None,
        }


def _wait(until: float, check: Callable[[], Any]) -> Any:
    while True:
        found = check()
        if found or time.monotonic() > until:
            return found
        time.sleep(POLL_S)


class Verifier:
    """One verification run against the pipeline described by ``config``."""

    def __init__(self, config: Config, timeout_s: float = 120.0) -> None:
        self.config = config
        self.timeout_s = timeout_s
        self.canary = uuid.uuid4().hex[:16]
        self.window_s = config.process.window_s[0]
        services = config.supervisor.services
        self.search_on = "opensearch" in services or bool(config.store.search_url)
        self.influx_on = "influxdb" in services
        self.influx_url = f"http://127.0.0.1:{config.store.influxdb_port}"
        self.search_url = (
            config.store.search_url
            or f"http://127.0.0.1:{config.store.opensearch_port}"
        )
        self._http = httpx.Client(timeout=5.0)
        self._influx_auth = config.store.influxdb_auth()
        self._search_auth = config.store.search_auth()

    # --- Kafka ---------------------------------------------------------------------

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                **self.config.kafka.librdkafka(),
                # A group that never commits: verify must not show up as lag.
                "group.id": f"metricpipe-verify-{self.canary}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )

    def _ends(self, consumer: Consumer, topic: str) -> list[TopicPartition]:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = []
        for p in sorted(metadata.partitions):
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), 10)
            ends.append(TopicPartition(topic, p, high))
        return ends

    def _points(self) -> list[tuple[int, float]]:
        """Timestamps inside one window that has already begun, and values."""
        window_ms = self.window_s * 1000
        now = int(time.time() * 1000)
        if now % window_ms < 500:
            time.sleep(0.6)  # too close to a window's start to fit three points
            now = int(time.time() * 1000)
        return [(now - 300 + 100 * i, float(i + 1)) for i in range(CANARY_POINTS)]

    def _produce(self, points: list[tuple[int, float]]) -> None:
        producer = Producer(self.config.kafka.librdkafka())
        divisor = {"s": 1000, "ms": 1, "us": 0.001, "ns": 0.000001}
        unit = divisor[self.config.process.timestamp_unit]
        for ts_ms, value in points:
            metric = {
                "name": CANARY_MEASUREMENT,
                "tags": {"host": CANARY_HOST, "canary": self.canary},
                "fields": {"value": value},
                "timestamp": int(ts_ms / unit),
            }
            producer.produce(
                self.config.kafka.topics.raw.name,
                key=CANARY_HOST.encode(),
                value=json.dumps(metric).encode(),
            )
        if producer.flush(15):
            raise RuntimeError("the canary could not be produced to Kafka")

    def _scan(
        self,
        consumer: Consumer,
        until: float,
        match: Callable[[bytes | None, dict[str, Any]], bool],
        enough: Callable[[list[tuple[bytes | None, dict[str, Any]]]], bool],
    ) -> list[tuple[bytes | None, dict[str, Any]]]:
        seen: list[tuple[bytes | None, dict[str, Any]]] = []
        while time.monotonic() < until and not enough(seen):
            message = consumer.poll(POLL_S)
            if message is None or message.error():
                continue
            try:
                value = json.loads(message.value())
            except (TypeError, ValueError):
                continue
            if isinstance(value, dict) and match(message.key(), value):
                seen.append((message.key(), value))
        return seen

    def _is_canary(self, _: bytes | None, value: dict[str, Any]) -> bool:
        tags = value.get("tags")
        return isinstance(tags, dict) and tags.get("canary") == self.canary

    # --- the run -------------------------------------------------------------------

    def run(self) -> VerifyResult:
        points = self._points()
        window_ms = self.window_s * 1000
        window_start = points[0][0] - points[0][0] % window_ms
        result = VerifyResult(self.canary, window_start)
        deadline = time.monotonic() + self.timeout_s

        raw = self._consumer()
        rollup = self._consumer()
        topics = self.config.kafka.topics
        raw.assign(self._ends(raw, topics.raw.name))
        rollup.assign(self._ends(rollup, topics.rollup.name))

        started = time.monotonic()
        self._produce(points)

        def since() -> float:
            return round((time.monotonic() - started) * 1000, 1)

        # Hop 1: the raw points are on metrics.raw.
        hop = Hop("metrics.raw")
        result.hops.append(hop)
        seen_raw = self._scan(
            raw, deadline, self._is_canary, lambda s: len(s) >= len(points)
        )
        raw.close()
        hop.latency_ms = since()
        hop.ok = len(seen_raw) == len(points)
        hop.detail = f"{len(seen_raw)} of {len(points)} canary points"

        # Hop 2: a rollup counting every point is on metrics.rollup.
        proceed = hop_ok(result)
        hop = Hop("metrics.rollup")
        result.hops.append(hop)
        rollups: dict[bytes | None, dict[str, Any]] = {}

        def complete(seen: list[tuple[bytes | None, dict[str, Any]]]) -> bool:
            rollups.update(seen)
            return any(v.get("count") == len(points) for v in rollups.values())

        if proceed:
            self._scan(
                rollup,
                deadline,
                lambda k, v: self._is_canary(k, v)
                and v.get("window_s") == self.window_s,
                complete,
            )
        rollup.close()
        final = [(k, v) for k, v in rollups.items() if v.get("count") == len(points)]
        hop.latency_ms = since()
        hop.ok = bool(final)
        counts = sorted(int(v.get("count") or 0) for v in rollups.values())
        hop.detail = (
            f"rollup key {final[0][0].decode() if final[0][0] else '?'}"
            if final
            else f"saw {len(rollups)} partial rollup(s) with counts {counts}"
        )
        key = final[0][0].decode() if final and final[0][0] else None

        # Hop 3: the search store has the rollup document, by the record key.
        proceed = hop_ok(result)
        hop = Hop("search", skipped=not self.search_on)
        result.hops.append(hop)
        search_count: int | None = None
        if self.search_on and key is not None and proceed:
            doc = _wait(
                deadline, lambda: self._search_doc(key, window_start, len(points))
            )
            hop.latency_ms = since()
            hop.ok = bool(doc)
            search_count = doc.get("count") if doc else None
            hop.detail = f"document {key} count={search_count}"
        elif hop.skipped:
            hop.detail = "no search store in this pipeline"
        else:
            hop.detail = "not checked: an earlier hop failed"

        # Hop 4: InfluxDB has the rollup point.
        proceed = hop_ok(result)
        hop = Hop("influxdb", skipped=not self.influx_on)
        result.hops.append(hop)
        influx_count: int | None = None
        if self.influx_on and proceed:
            influx_count = _wait(deadline, lambda: self._influx_count(len(points)))
            hop.latency_ms = since()
            hop.ok = influx_count == len(points)
            hop.detail = f"point count={influx_count}"
        elif hop.skipped:
            hop.detail = "no InfluxDB in this pipeline"
        else:
            hop.detail = "not checked: an earlier hop failed"

        # The closed window: raw points seen == rollup count in each store.
        stores = {"raw_points": len(seen_raw)}
        if self.search_on:
            stores["search_count"] = search_count or 0
        if self.influx_on:
            stores["influxdb_count"] = influx_count or 0
        result.reconciliation = {
            **stores,
            "ok": len(set(stores.values())) == 1 and len(seen_raw) == len(points),
        }
        result.data_loss_messages = self._data_loss()
        if result.data_loss_messages is not None:
            # Shown beside the window's counts; it does not make verify fail:
            # the canary itself went through, the gap is older.
            result.reconciliation["data_loss_messages"] = result.data_loss_messages
        self._record(result)
        return result

    def _data_loss(self) -> int | None:
        """The job's latest cumulative data_loss_messages on metrics.pipeline."""
        topic = self.config.kafka.topics.pipeline.name
        consumer = self._consumer()
        try:
            ends = self._ends(consumer, topic)
            # The job publishes a few records per batch: the last 200 reach
            # back past its latest spark_batch record.
            consumer.assign(
                [
                    TopicPartition(topic, e.partition, max(0, e.offset - 200))
                    for e in ends
                ]
            )
            left = {e.partition: e.offset for e in ends if e.offset > 0}
            latest: tuple[int, int] | None = None
            deadline = time.monotonic() + 10
            while left and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                if message.offset() + 1 >= left.get(message.partition(), 0):
                    left.pop(message.partition(), None)
                try:
                    record = json.loads(message.value())
                except ValueError:
                    continue
                if record.get("kind") == "spark_batch" and isinstance(
                    record.get("data_loss_messages"), int
                ):
                    stamp = int(record.get("ts_ms", 0))
                    if latest is None or stamp >= latest[0]:
                        latest = (stamp, record["data_loss_messages"])
            return None if latest is None else latest[1]
        finally:
            consumer.close()

    def _search_doc(self, key: str, window_start: int, count: int) -> dict[str, Any]:
        day = dt.datetime.fromtimestamp(window_start / 1000, dt.UTC).strftime(
            "%Y.%m.%d"
        )
        index = f"{self.config.store.rollup_index_prefix}-{day}"
        try:
            answer = self._http.get(
                f"{self.search_url}/{index}/_doc/{quote(key, safe='')}",
                auth=self._search_auth,
            )
        except httpx.HTTPError:
            return {}
        if answer.status_code != 200:
            return {}
        source: dict[str, Any] = answer.json().get("_source", {})
        return source if source.get("count") == count else {}

    def _influx_count(self, count: int) -> int | None:
        prefix = self.config.store.influxdb_measurement_prefix
        query = (
            f'SELECT last("count") FROM "{prefix}{CANARY_MEASUREMENT}" '
            f"WHERE \"canary\" = '{self.canary}'"
        )
        try:
            answer = self._http.get(
                f"{self.influx_url}/query",
                params={"db": self.config.store.influxdb_database, "q": query},
                auth=self._influx_auth,
            )
            series = answer.json()["results"][0].get("series") or []
        except (httpx.HTTPError, ValueError, KeyError, IndexError):
            return None
        if not series:
            return None
        value = series[0]["values"][0][1]
        return int(value) if value == count else None

    def _record(self, result: VerifyResult) -> None:
        """Write hop latencies and the reconciliation to the pipeline database."""
        if not self.influx_on:
            return
        now_ms = int(time.time() * 1000)
        lines = [
            f"verify,hop={h.name.replace('.', '_')} latency_ms={h.latency_ms},"
            f"ok={str(h.ok).lower()} {now_ms}"
            for h in result.hops
            if h.latency_ms is not None
        ]
        recon = result.reconciliation
        numbers = ",".join(f"{k}={v}i" for k, v in recon.items() if k != "ok")
        lines.append(
            f"verify_reconcile {numbers},ok={str(recon['ok']).lower()} {now_ms}"
        )
        try:
            answer = self._http.post(
                f"{self.influx_url}/write",
                params={
                    "db": self.config.store.influxdb_pipeline_database,
                    "precision": "ms",
                },
                content="\n".join(lines),
                auth=self._influx_auth or httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            log.warning("Could not record the verify result in InfluxDB: %s", exc)
            return
        if answer.status_code != 204:
            log.warning(
                "InfluxDB did not record the verify result (HTTP %d): %s",
                answer.status_code,
                answer.text[:200],
            )


def hop_ok(result: VerifyResult) -> bool:
    """True while every hop so far passed: later hops are not waited for."""
    return result.first_failure is None
