"""A throwaway InfluxDB 1.x for tests, and sample data in the dashboard's schema.

Runs Debian's ``influxd`` with its own config, dirs under a temp folder and a free
loopback port; never the system service. Used by this package's tests only.
"""

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from metricpipe.dashboard import schema as s
from metricpipe.testing import free_port

log = logging.getLogger(__name__)

HOSTS = ("h1", "h2")
GROUPS = ("metricpipe-spark", "connect-influx")
WINDOW_S = 10
#: Ten minutes of windows: every allowed range (5m and up) has points.
WINDOWS = 60

INFLUXD_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root}/meta"

[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false

[retention]
  enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
"""


@contextmanager
def influxdb(root: Path, ready_timeout_s: float = 60.0) -> Iterator[str]:
    """Run ``influxd`` on a free port; yield its URL; stop it afterwards."""
    influxd = shutil.which("influxd")
    if influxd is None:
        raise RuntimeError("influxd is not on PATH: apt-get install influxdb")

    root.mkdir(parents=True, exist_ok=True)
    http_port = free_port()
    conf = root / "influxdb.conf"
    conf.write_text(
        INFLUXD_CONF.format(root=root, rpc_port=free_port(), http_port=http_port)
    )
    url = f"http://127.0.0.1:{http_port}"
    with (root / "influxd.log").open("w") as out:
        proc = subprocess.Popen(
            [influxd, "-config", str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"influxd exited: see {root / 'influxd.log'}")
            try:
                if httpx.get(f"{url}/ping", timeout=1.0).status_code == 204:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"influxd not ready in {ready_timeout_s}s")
            time.sleep(0.2)  # poll interval, bounded by the deadline above
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rollup(value: float, rate: float | None = None) -> str:
    fields = {
        "count": "10i",
        "sum": f"{value * 10:.3f}",
        "mean": f"{value:.3f}",
        "min": f"{value * 0.9:.3f}",
        "max": f"{value * 1.1:.3f}",
        "last": f"{value:.3f}",
        "stddev": f"{value * 0.05:.3f}",
        "p50": f"{value:.3f}",
        "p95": f"{value * 1.08:.3f}",
        "p99": f"{value * 1.1:.3f}",
    }
    if rate is not None:
        fields[s.ROLLUP_RATE] = f"{rate:.3f}"
    return ",".join(f"{k}={v}" for k, v in fields.items())


def metrics_lines(now_ms: int) -> list[str]:
    lines = []
    for i in range(WINDOWS):
        t = now_ms - (WINDOWS - i) * WINDOW_S * 1000
        wave = (i % 12) / 12
        for n, host in enumerate(HOSTS):
            base = f"{s.TAG_HOST}={host},{s.TAG_WINDOW}={WINDOW_S}"
            cpu = f"{s.CPU},{s.CPU_TOTAL_TAG}={s.CPU_TOTAL},{base}"
            lines += [
                f"{cpu},{s.TAG_FIELD}={s.CPU_IDLE} {_rollup(70 - 20 * wave - n)} {t}",
                f"{cpu},{s.TAG_FIELD}={s.CPU_USER} {_rollup(20 + 15 * wave)} {t}",
                f"{s.MEM},{base},{s.TAG_FIELD}={s.MEM_USED_PERCENT} "
                f"{_rollup(40 + 5 * wave + n)} {t}",
                f"{s.DISK},{s.DISK_PATH_TAG}=/,{base},"
                f"{s.TAG_FIELD}={s.DISK_USED_PERCENT} {_rollup(55 + n)} {t}",
                f"{s.SYSTEM},{base},{s.TAG_FIELD}={s.SYSTEM_LOAD1} "
                f"{_rollup(0.5 + wave)} {t}",
            ]
            for field in s.NET_BYTES:
                lines.append(
                    f"{s.NET},{s.NET_INTERFACE_TAG}=eth0,{base},{s.TAG_FIELD}={field} "
                    f"{_rollup(1e9 + i * 1e5, 1e4 * (1 + wave))} {t}"
                )
            disk = f"{s.DISKIO},{s.DISKIO_DEVICE_TAG}=sda,{base}"
            for field in s.DISKIO_BYTES:
                lines.append(
                    f"{disk},{s.TAG_FIELD}={field} "
                    f"{_rollup(5e8 + i * 1e4, 2e3 * (1 + wave))} {t}"
                )
    return lines


def pipeline_lines(now_ms: int) -> list[str]:
    lines = []
    for i in range(WINDOWS):
        t = now_ms - (WINDOWS - i) * WINDOW_S * 1000
        wave = (i % 12) / 12
        lines += [
            f"{s.SPARK_BATCH} {s.SPARK_INPUT_ROWS}={200 + 50 * wave},"
            f"{s.SPARK_PROCESSED_ROWS}={195 + 50 * wave},"
            f"{s.SPARK_BATCH_DURATION}={800 + 300 * wave},{s.SPARK_STATE_ROWS}=1200,"
            f"{s.SPARK_LATE_ROWS}={i % 3},{s.SPARK_LATE_POINTS}={i % 3},"
            f"{s.SPARK_DATA_LOSS}={0 if i < WINDOWS // 2 else 1500} {t}",
            f"{s.DLQ},{s.DLQ_REASON_TAG}=parse_error {s.DLQ_COUNT}={i % 2}i {t}",
            f"{s.CONNECT_SINK},{s.CONNECT_CONNECTOR_TAG}=influxdb-sink "
            f"{s.CONNECT_RECORDS}={150 + 40 * wave},{s.CONNECT_ERRORS}=0i {t}",
            f"{s.TELEGRAF_INTERNAL},{s.TELEGRAF_OUTPUT_TAG}=kafka "
            f"{s.TELEGRAF_WRITTEN}={210 + 50 * wave},{s.TELEGRAF_DROPPED}=0 {t}",
            f"{s.VERIFY},{s.VERIFY_HOP_TAG}=telegraf_to_influxdb "
            f"{s.VERIFY_LATENCY}={1500 + 500 * wave} {t}",
        ]
        for n, group in enumerate(GROUPS):
            status = "OK" if n == 0 or i < WINDOWS - 3 else "WARN"
            lines.append(
                f"{s.CONSUMER_LAG},{s.LAG_GROUP_TAG}={group} "
                f"{s.LAG_OFFSETS}={100 + 10 * i}i,{s.LAG_SECONDS}={1.5 + wave},"
                f'{s.LAG_STATUS}="{status}",'
                f"{s.LAG_STATUS_CODE}={s.LAG_STATUSES.index(status)}i {t}"
            )
    return lines


def populate(url: str, now_ms: int | None = None) -> int:
    """Create both databases and write ten minutes of data; return points written."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    written = 0
    for db, lines in (
        (s.METRICS_DB, metrics_lines(now_ms)),
        (s.PIPELINE_DB, pipeline_lines(now_ms)),
    ):
        response = httpx.post(f"{url}/query", params={"q": f'CREATE DATABASE "{db}"'})
        response.raise_for_status()
        response = httpx.post(
            f"{url}/write",
            params={"db": db, "precision": "ms"},
            content="\n".join(lines).encode(),
            timeout=30.0,
        )
        if response.status_code != 204:
            raise RuntimeError(f"write to {db} failed: {response.text}")
        written += len(lines)
    return written
