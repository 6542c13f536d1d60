"""Bench results as files: results.json, a Markdown table and PNG plots."""

import json
from pathlib import Path
from typing import Any

TARGETS = {
    "pipeline_messages_per_s": 150_000,
    "pipeline_over_batch_ceiling": 0.7,
    "pipeline_over_peer": 1.5,
    "freshness_p99_s": 3.0,
    "idle_rss_gib": 4.0,
}


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    io = results.get("io_bound", {})
    batch = results.get("batch_ceiling", {})
    pipe = results.get("pipeline", {})
    peer = results.get("peer", {})
    fresh = results.get("freshness", {})
    idle = results.get("footprint_idle", {})
    load = results.get("footprint_load", {})
    start = results.get("startup", {})
    r = results.get("ratios", {})
    gen = results.get("loadgen_alone", {})
    kind = "quick" if results.get("quick") else "full"
    rows = [
        ("Load generator alone (msg/s)", _num(gen.get("messages_per_s")), ""),
        (
            "I/O bound: plain consumer (msg/s, MB/s)",
            f"{_num(io.get('messages_per_s'))}, {_num(io.get('mb_per_s'), 1)}",
            "",
        ),
        (
            "Batch ceiling: job logic as Spark batch (msg/s, values/s)",
            f"{_num(batch.get('messages_per_s'))}, "
            f"{_num(batch.get('field_values_per_s'))}",
            "",
        ),
        (
            "Pipeline sustained (msg/s, values/s)",
            f"{_num(pipe.get('sustained_messages_per_s'))}, "
            f"{_num(pipe.get('sustained_field_values_per_s'))}"
            + ("" if pipe.get("ceiling_reached") else " (highest step tried)"),
            ">= 150,000 msg/s",
        ),
        (
            "Telegraf-only peer sustained (msg/s, values/s)",
            f"{_num(peer.get('sustained_messages_per_s'))}, "
            f"{_num(peer.get('sustained_field_values_per_s'))}"
            + ("" if peer.get("ceiling_reached") else " (highest step tried)"),
            "",
        ),
        ("Pipeline / I/O bound", _num(r.get("pipeline_over_io_bound"), 3), ""),
        (
            "Pipeline / batch ceiling",
            _num(r.get("pipeline_over_batch_ceiling"), 3),
            ">= 0.7",
        ),
        ("Pipeline / peer", _num(r.get("pipeline_over_peer"), 3), ">= 1.5"),
    ]
    for store in ("influxdb", "opensearch"):
        f = fresh.get(store, {})
        rows.append(
            (
                f"Freshness past window end, {store} (p50/p95/p99 s, n)",
                f"{_num(f.get('p50_s'), 2)} / {_num(f.get('p95_s'), 2)} / "
                f"{_num(f.get('p99_s'), 2)}, n={f.get('n', 0)}",
                "p99 <= 3 s",
            )
        )
    rows += [
        (
            "Whole stack idle (RSS MiB, CPU % of a core)",
            f"{_num(idle.get('total_rss_mib'))}, {_num(idle.get('total_cpu_pct'))}",
            "<= 4,096 MiB",
        ),
        (
            f"Whole stack at {_num(load.get('rate'))} msg/s (RSS MiB, CPU %)",
            f"{_num(load.get('total_rss_mib'))}, {_num(load.get('total_cpu_pct'))}",
            "",
        ),
        (
            "up --detach, then first rollup in InfluxDB (s since up)",
            f"{_num(start.get('up_s'), 1)}, {_num(start.get('first_rollup_s'), 1)}",
            "",
        ),
    ]
    unfinished = results.get("unfinished")
    lines = [
        *([f"**Unfinished run**: {unfinished}.", ""] if unfinished else []),
        f"Run: {kind}; {m.get('cores')} cores, {m.get('memory_gib')} GiB; "
        f"load average at start {m.get('load_avg_at_start')}; "
        f"versions {m.get('versions')}.",
        "",
        "| Figure | Measured | Target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        "Per service (RSS MiB / CPU % of a core), idle and under load:",
        "",
        "| Service | Idle | Load |",
        "|---|---|---|",
    ]
    names = sorted(set(idle.get("services", {})) | set(load.get("services", {})))
    for name in names:
        a = idle.get("services", {}).get(name, {})
        b = load.get("services", {}).get(name, {})
        lines.append(
            f"| {name} | {_num(a.get('rss_mib'))} / {_num(a.get('cpu_pct'))} "
            f"| {_num(b.get('rss_mib'))} / {_num(b.get('cpu_pct'))} |"
        )
    queries = pipe.get("job_progress", {}).get("queries", {})
    if queries:
        lines += [
            "",
            "The Spark job's last batch per query at the end of the step-up "
            "(evidence for the bottleneck):",
            "",
            "| Query | Input rows | Batch ms | Processed rows/s | State rows |",
            "|---|---|---|---|---|",
        ]
        for name, q in sorted(queries.items()):
            lines.append(
                f"| {name} | {_num(q.get('input_rows'))} "
                f"| {_num(q.get('batch_duration_ms'))} "
                f"| {_num(q.get('processed_rows_per_s'))} "
                f"| {_num(q.get('state_rows'))} |"
            )
    return "\n".join(lines) + "\n"


def plots(results: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(9, 4))
    for key, style in (("pipeline", "-"), ("peer", "--")):
        samples = results.get(key, {}).get("samples", [])
        if samples:
            t0 = samples[0]["t_s"]
            ts = [s["t_s"] - t0 for s in samples]
            ax.plot(
                ts,
                [s["consumed_per_s"] for s in samples],
                style,
                label=f"{key} consumed/s",
            )
            ax.plot(ts, [s["target"] for s in samples], ":", label=f"{key} target/s")
    ax.set_xlabel("s since the step-up began")
    ax.set_ylabel("messages/s")
    ax.set_title("Throughput over time")
    ax.legend()
    path = out / "throughput.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(9, 4))
    fresh = results.get("freshness", {})
    for store in ("influxdb", "opensearch"):
        delays = fresh.get(f"{store}_delays_s", [])
        if delays:
            ax.hist(delays, bins=20, alpha=0.6, label=f"{store} (n={len(delays)})")
    ax.set_xlabel("s from window end to rollup visible")
    ax.set_ylabel("windows")
    ax.set_title("Freshness")
    ax.legend()
    path = out / "freshness.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    written.append(path)
    return written


def write_all(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    return [out / "results.json", out / "results.md", *plots(results, out)]


README_START = "<!-- bench-table:start -->"
README_END = "<!-- bench-table:end -->"


def update_readme(readme: Path, table: str) -> bool:
    """Replace the table between the bench markers; False when they are missing."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{table}{README_END}{tail}")
    return True
