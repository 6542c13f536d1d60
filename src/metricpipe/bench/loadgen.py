"""A load generator of realistic Telegraf JSON metrics, for benchmarks and soaks.

Series look like what Telegraf's host inputs send: cpu-like gauges, memory in
bytes, counters that grow and now and then reset (a reboot, a wrapped counter),
and a few string fields. The same seed always yields the same messages, so a
benchmark's pipeline run and its Telegraf-only peer see identical data.

Speed matters more than elegance here: each series keeps a pre-rendered JSON
prefix, so producing one message formats only its numbers and timestamp.
"""

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import Producer

# measurement -> (tag name for the instance, instances, [(field, kind)])
# kind: "gauge" float 0..100, "bytes" int gauge, "counter" growing int, "string"
SHAPES: dict[str, tuple[str, list[str], list[tuple[str, str]]]] = {
    "cpu": (
        "cpu",
        ["cpu-total", "cpu0", "cpu1"],
        [("usage_user", "gauge"), ("usage_system", "gauge"), ("usage_idle", "gauge")],
    ),
    "mem": (
        "",
        [""],
        [("used", "bytes"), ("available", "bytes"), ("used_percent", "gauge")],
    ),
    "net": (
        "interface",
        ["eth0", "lo"],
        [("bytes_recv", "counter"), ("bytes_sent", "counter"), ("err_in", "counter")],
    ),
    "diskio": (
        "name",
        ["vda", "vdb"],
        [("reads", "counter"), ("writes", "counter"), ("read_bytes", "counter")],
    ),
    "system": ("", [""], [("load1", "gauge"), ("uptime_format", "string")]),
}


@dataclass
class Series:
    prefix: bytes
    key: bytes
    fields: list[tuple[str, str]]
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadSpec:
    hosts: int = 10
    seed: int = 1
    counter_reset_every: int = 5000  # on average, one reset per this many values

    def series_count(self) -> int:
        return self.hosts * sum(len(instances) for _, instances, _ in SHAPES.values())


def build_series(spec: LoadSpec) -> list[Series]:
    series: list[Series] = []
    for h in range(spec.hosts):
        host = f"loadgen-{h:04d}"
        for name, (tag, instances, fields) in SHAPES.items():
            for instance in instances:
                tags = {"host": host}
                if tag:
                    tags[tag] = instance
                head = json.dumps({"name": name, "tags": tags}, separators=(",", ":"))
                series.append(
                    Series(
                        prefix=head[:-1].encode() + b',"fields":{',
                        key=host.encode(),
                        fields=fields,
                        counters={f: 0 for f, kind in fields if kind == "counter"},
                    )
                )
    return series


def messages(
    spec: LoadSpec, start_ms: int, step_ms: int = 1000
) -> Iterator[tuple[bytes, bytes]]:
    """Endless (key, value) pairs: every series once per step, then the next step."""
    rng = random.Random(spec.seed)
    series = build_series(spec)
    now_ms = start_ms
    while True:
        stamp = b'},"timestamp":' + str(now_ms).encode() + b"}"
        for s in series:
            parts = []
            for name, kind in s.fields:
                if kind == "gauge":
                    value = f"{rng.random() * 100:.3f}"
                elif kind == "bytes":
                    value = str(rng.randrange(1 << 30, 1 << 34))
                elif kind == "counter":
                    if rng.randrange(spec.counter_reset_every) == 0:
                        s.counters[name] = 0
                    s.counters[name] += rng.randrange(1, 5000)
                    value = str(s.counters[name])
                else:
                    value = '"up ' + str(rng.randrange(1, 900)) + ' days"'
                parts.append(f'"{name}":{value}')
            yield s.key, s.prefix + ",".join(parts).encode() + stamp
        now_ms += step_ms


@dataclass
class LoadResult:
    sent: int
    seconds: float
    bytes_sent: int
    delivery_errors: int

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "sent": self.sent,
            "seconds": round(self.seconds, 3),
            "messages_per_s": round(self.rate, 1),
            "mb_per_s": round(self.bytes_sent / self.seconds / 1e6, 3)
            if self.seconds
            else 0,
            "delivery_errors": self.delivery_errors,
        }


def produce(
    bootstrap: str,
    topic: str,
    spec: LoadSpec,
    count: int,
    rate_per_s: float | None = None,
    start_ms: int | None = None,
    step_ms: int = 1000,
    client_config: dict[str, str] | None = None,
) -> LoadResult:
    """Produce ``count`` messages, paced to ``rate_per_s`` or as fast as possible."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            **(client_config or {}),
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            "enable.idempotence": True,
            "log_level": 0,
        }
    )
    errors = 0

    def delivered(err: object, _msg: object) -> None:
        nonlocal errors
        if err is not None:
            errors += 1

    stream = messages(
        spec, start_ms if start_ms is not None else int(time.time() * 1000), step_ms
    )
    sent = size = 0
    # Pace in slices of about 20 ms at the target rate: coarser slices turn a low
    # rate into bursts (a short run would be sent all at once).
    pace_every = max(50, int(rate_per_s / 50)) if rate_per_s else 10_000
    started = time.perf_counter()
    for key, value in stream:
        if sent >= count:
            break
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let it drain
        sent += 1
        size += len(value)
        if sent % pace_every == 0:
            producer.poll(0)
            if rate_per_s:
                ahead = sent / rate_per_s - (time.perf_counter() - started)
                if ahead > 0:
                    time.sleep(ahead)
    remaining = producer.flush(60)
    seconds = time.perf_counter() - started
    return LoadResult(sent, seconds, size, errors + remaining)


def fields_per_message() -> float:
    """Field values per message on average, over one sweep of every series."""
    fields = sum(len(inst) * len(flds) for _, inst, flds in SHAPES.values())
    series = sum(len(inst) for _, inst, _ in SHAPES.values())
    return fields / series
