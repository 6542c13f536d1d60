"""The ``metricpipe`` command line.

Only this module configures logging. Every :class:`MetricpipeError` becomes one
clear line on stderr and its exit code; ``--debug`` adds the traceback.
"""

import faulthandler
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from metricpipe import __version__
from metricpipe.errors import MetricpipeError, NotRunningError, WorkspaceError

app = typer.Typer(
    name="metricpipe",
    help="A real-time metric collection pipeline on one machine, or on your clusters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(
    help="Inspect and document metricpipe.toml.", no_args_is_help=True
)
app.add_typer(config_app, name="config")
dashboards_app = typer.Typer(
    help="Grafana provisioning for the pipeline's dashboards.", no_args_is_help=True
)
app.add_typer(dashboards_app, name="dashboards")

# Piped output gets a wide console: tables cut at 80 columns hide group names.
_WIDTH = None if sys.stdout.isatty() else max(160, shutil.get_terminal_size().columns)
out = Console(width=_WIDTH)
err = Console(stderr=True, soft_wrap=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        envvar="METRICPIPE_WORKSPACE",
        help="Folder for data, logs and state [default: ./.metricpipe].",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="METRICPIPE_CONFIG",
        help="Config file [default: ./metricpipe.toml if present].",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

EXIT_NOT_READY = 4


class _FieldsFormatter(logging.Formatter):
    """Append the ``extra`` fields of a record as ``key=value``."""

    _plain = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message",
        "asctime",
    }

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {k: v for k, v in record.__dict__.items() if k not in self._plain}
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def _configure_logging(verbose: bool, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = RichHandler(console=err, show_path=False, rich_tracebacks=debug)
    handler.setFormatter(_FieldsFormatter("%(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log everything; tracebacks.")
    ] = False,
) -> None:
    os.environ["METRICPIPE_DEBUG"] = (
        "1" if debug else os.environ.get("METRICPIPE_DEBUG", "")
    )
    _configure_logging(verbose, debug)


def _load(config: Path | None, workspace: Path | None = None) -> Any:
    """The config: --config (or $METRICPIPE_CONFIG); else, when a pipeline runs in
    the workspace, the config it was started with; else ./metricpipe.toml."""
    from metricpipe.config import load_config, load_running_config

    if config is None and not os.environ.get("METRICPIPE_CONFIG"):
        running = load_running_config(_workspace(workspace))
        if running is not None:
            return running
    return load_config(config)


def _workspace(workspace: Path | None) -> Any:
    from metricpipe.paths import Workspace

    return Workspace.resolve(workspace)


# --- setup ---------------------------------------------------------------------------


@app.command()
def setup(
    list_: Annotated[
        bool, typer.Option("--list", help="List components; install nothing.")
    ] = False,
    json_: JsonOpt = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Install only these components.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Reinstall even if present.")
    ] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Fetch and build every component from its registry (cached, idempotent)."""
    from metricpipe.provision import installers
    from metricpipe.provision.components import COMPONENTS, by_name

    _load(config)  # a bad config should fail before a long download
    chosen = list(COMPONENTS)
    if only:
        try:
            chosen = [by_name(name) for name in only]
        except KeyError as exc:
            raise typer.BadParameter(str(exc.args[0]), param_hint="--only") from None

    if list_:
        statuses = [installers.status(c) for c in chosen]
        if json_:
            out.print_json(json.dumps([s.as_dict() for s in statuses]))
            return
        table = Table(
            "component", "version", "source", "coordinate", "installed", "path"
        )
        for s in statuses:
            table.add_row(
                s.name,
                s.version,
                s.source,
                s.coordinate,
                "yes" if s.installed else "no",
                s.path,
            )
        out.print(table)
        return

    results = []
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        disable=json_,
    ) as progress:
        overall = progress.add_task("components", total=len(chosen))
        for component in chosen:
            started = time.monotonic()
            was_installed = installers.is_installed(component) and not force
            label = f"{component.name} {component.version} ({component.source})"
            progress.update(overall, description=label)
            path = installers.install(component, force=force)
            results.append(
                {
                    "name": component.name,
                    "version": component.version,
                    "path": str(path),
                    "action": "cached" if was_installed else "installed",
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
            progress.advance(overall)
    if json_:
        out.print_json(json.dumps(results))
    else:
        for r in results:
            name, version, action = r["name"], r["version"], r["action"]
            err.print(f"  {name:<16} {version:<10} {action:<9} {r['seconds']:>6}s")


# --- up / down / status / logs -------------------------------------------------------


def _status_rows(workspace: Any) -> tuple[Any, list[dict[str, Any]]]:
    from metricpipe.supervisor.state import PipelineState, observed

    state = PipelineState.read(workspace.state_file)
    if state is None:
        return None, []
    state = observed(state)
    rows = [
        {
            "name": s.name,
            "state": s.state,
            "pid": s.pid,
            "endpoint": s.endpoint,
            "restarts": s.restarts,
            "message": s.message,
        }
        for s in state.services
    ]
    return state, rows


def _print_status(rows: list[dict[str, Any]]) -> None:
    colours = {
        "ready": "green",
        "starting": "yellow",
        "failed": "red",
        "stopped": "dim",
    }
    table = Table("service", "state", "pid", "endpoint", "restarts", "message")
    for r in rows:
        colour = colours.get(r["state"], "white")
        table.add_row(
            r["name"],
            f"[{colour}]{r['state']}[/]",
            str(r["pid"] or "-"),
            r["endpoint"],
            str(r["restarts"]),
            r["message"],
        )
    out.print(table)


def _print_dashboard_url(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row["name"] == "dashboard" and row["state"] == "ready":
            out.print(f"Dashboard: http://{row['endpoint']}/", soft_wrap=True)


@app.command()
def up(
    detach: Annotated[
        bool,
        typer.Option(
            "--detach", "-d", help="Run in the background; return when ready."
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Start the whole pipeline; Ctrl-C stops everything cleanly."""
    from metricpipe.supervisor.registry import build_services
    from metricpipe.supervisor.supervisor import Supervisor

    cfg = _load(config)
    ws = _workspace(workspace)
    services = build_services(cfg, ws)
    supervisor = Supervisor(cfg, ws, services)
    supervisor.validate()

    if detach:
        _up_detached(ws, config, len(services) * cfg.supervisor.ready_timeout_s + 60)
        return

    def ready(_: object) -> None:
        _, rows = _status_rows(ws)
        _print_status(rows)
        _print_dashboard_url(rows)
        err.print(f"[green]metricpipe is up[/] (workspace {ws.root}). Ctrl-C stops it.")

    supervisor.run(on_ready=ready)
    err.print("metricpipe stopped.")


def _refuse_if_running(ws: Any) -> None:
    from metricpipe.supervisor.state import process_alive

    try:
        pid = int(ws.supervisor_pid_file.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return
    if process_alive(pid):
        raise WorkspaceError(
            f"workspace {ws.root} is already run by supervisor pid {pid}; stop it "
            "with `metricpipe down` or pass another --workspace"
        )


def _up_detached(ws: Any, config: Path | None, timeout_s: float) -> None:
    from metricpipe.supervisor.state import process_alive

    ws.create()
    _refuse_if_running(ws)
    log_path = ws.logs / "supervisor.log"
    argv = [sys.executable, "-m", "metricpipe", "-v", "up", "--workspace", str(ws.root)]
    if config:
        argv += ["--config", str(config.resolve())]
    log_path.touch()
    log_start = log_path.stat().st_size
    with log_path.open("ab") as log_out:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    deadline = time.monotonic() + timeout_s
    with err.status("Starting services…"):
        while time.monotonic() < deadline:
            time.sleep(0.5)
            state, rows = _status_rows(ws)
            if child.poll() is not None:
                # Only what this run wrote: older failures would mislead.
                with log_path.open("rb") as handle:
                    handle.seek(log_start)
                    text = handle.read().decode(errors="replace")
                err.print("\n".join(text.splitlines()[-25:]), highlight=False)
                failure = MetricpipeError(
                    f"the supervisor exited with code {child.returncode} before the "
                    f"pipeline was ready; full log: {log_path}"
                )
                if child.returncode > 0:
                    failure.exit_code = child.returncode
                raise failure
            if (
                state is not None
                and rows
                and state.supervisor_pid == child.pid
                and all(r["state"] == "ready" for r in rows)
            ):
                _print_status(rows)
                _print_dashboard_url(rows)
                err.print(
                    f"[green]metricpipe is up[/] in the background (pid {child.pid}); "
                    "`metricpipe down` stops it."
                )
                return
    if process_alive(child.pid):
        os.kill(child.pid, signal.SIGTERM)
    raise MetricpipeError(
        f"the pipeline was not ready within {timeout_s:g} s; see {log_path}"
    )


@app.command()
def down(
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete the workspace.")
    ] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stop a pipeline started with `up --detach` (or in another terminal)."""
    from metricpipe.supervisor.state import PipelineState, process_alive

    ws = _workspace(workspace)
    cfg = _load(config, workspace)
    state = PipelineState.read(ws.state_file)
    stopped_any = False

    # The pid file outlives a lost state file: trust whichever names a live pid.
    supervisor_pid = state.supervisor_pid if state is not None else 0
    try:
        recorded = int(ws.supervisor_pid_file.read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        recorded = 0
    if not process_alive(supervisor_pid) and process_alive(recorded):
        supervisor_pid = recorded

    if process_alive(supervisor_pid):
        os.kill(supervisor_pid, signal.SIGTERM)
        services = len(state.services) if state is not None else 8
        budget = cfg.supervisor.stop_timeout_s * max(1, services) + 10
        deadline = time.monotonic() + budget
        with err.status("Stopping services…"):
            while process_alive(supervisor_pid) and time.monotonic() < deadline:
                time.sleep(0.3)
        stopped_any = True

    # Whatever a killed supervisor left behind goes too.
    if state is not None:
        for service in state.services:
            if process_alive(service.pid, service.create_time):
                assert service.pid is not None
                try:
                    os.killpg(service.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    os.kill(service.pid, signal.SIGKILL)
                stopped_any = True
        ws.state_file.unlink(missing_ok=True)

    if purge and ws.root.exists():
        expected = {"data", "logs", "conf", "run"}
        extra = {p.name for p in ws.root.iterdir()} - expected
        if extra:
            raise WorkspaceError(
                f"refusing to delete {ws.root}: it holds {sorted(extra)}, which "
                "metricpipe did not create; delete it yourself if you are sure"
            )
        shutil.rmtree(ws.root)
        err.print(f"Deleted workspace {ws.root}.")
    err.print("Stopped." if stopped_any else "Nothing was running.")


@app.command()
def status(json_: JsonOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Show every service: state, pid, endpoint. Exit 0 only if all are ready."""
    ws = _workspace(workspace)
    state, rows = _status_rows(ws)
    connectors = _connector_rows(ws, rows)
    if json_:
        out.print_json(
            json.dumps(
                {
                    "supervisor_pid": state.supervisor_pid if state else None,
                    "running": bool(state and state.supervisor_alive),
                    "services": rows,
                    "connectors": connectors,
                }
            )
        )
    elif rows:
        _print_status(rows)
        if connectors:
            table = Table("connector", "state", "tasks", "problem")
            for c in connectors:
                table.add_row(
                    c["name"], c["state"], ", ".join(c["tasks"]), c["trace"][:80]
                )
            out.print(table)
    if state is None or not state.supervisor_alive:
        if not json_:
            err.print(f"No pipeline is running in {ws.root}.")
        raise typer.Exit(NotRunningError.exit_code)
    if any(r["state"] != "ready" for r in rows):
        raise typer.Exit(EXIT_NOT_READY)
    if any(
        c["state"] != "RUNNING" or set(c["tasks"]) - {"RUNNING"} for c in connectors
    ):
        raise typer.Exit(EXIT_NOT_READY)


def _connector_rows(ws: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kafka Connect's connectors and task states, when a connect worker is ready."""
    from metricpipe.config import load_running_config

    if not any(r["name"] == "connect" and r["state"] == "ready" for r in rows):
        return []
    cfg = load_running_config(ws)
    if cfg is None:
        return []
    from metricpipe.store.connect import connector_states, describe

    try:
        return describe(connector_states(cfg))
    except Exception as exc:  # the worker answering badly is a status, not a crash
        return [{"name": "?", "state": "UNKNOWN", "tasks": [], "trace": str(exc)}]


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="Service name, or 'supervisor'.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing.")
    ] = False,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=0, help="Lines to show first.")
    ] = 50,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print a service's log."""
    from metricpipe.supervisor.config import SERVICE_NAMES

    if service not in (*SERVICE_NAMES, "supervisor"):
        raise typer.BadParameter(
            f"{service!r} is not a service; use one of "
            f"{', '.join(SERVICE_NAMES)}, supervisor",
            param_hint="SERVICE",
        )
    path = _workspace(workspace).log_of(service)
    if not path.exists():
        raise NotRunningError(
            f"no log for {service!r} at {path}; has it ever run here?"
        )
    with path.open(errors="replace") as handle:
        for line in handle.readlines()[-lines:] if lines else []:
            sys.stdout.write(line)
        sys.stdout.flush()
        while follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.3)


@app.command()
def verify(
    json_: JsonOpt = False,
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=5, help="Give up on a hop after this.")
    ] = 120.0,
    config: ConfigOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Follow a canary metric through every hop and reconcile its window."""
    from metricpipe.broker.topics import check_reachable
    from metricpipe.verify.canary import Verifier

    cfg = _load(config, workspace)
    check_reachable(cfg.kafka, cfg.kafka.topics.raw.name)
    with err.status("Following a canary through the pipeline…"):
        result = Verifier(cfg, timeout_s).run()

    if json_:
        out.print_json(json.dumps(result.as_dict()))
    else:
        table = Table("hop", "result", "latency (ms)", "detail")
        for hop in result.hops:
            verdict = "skipped" if hop.skipped else "ok" if hop.ok else "FAILED"
            latency = "-" if hop.latency_ms is None else f"{hop.latency_ms:.0f}"
            table.add_row(hop.name, verdict, latency, hop.detail)
        out.print(table)
        recon = result.reconciliation
        verdict = "ok" if recon.get("ok") else "MISMATCH"
        counts = ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in recon.items() if k != "ok"
        )
        err.print(f"Window {result.window_start} reconciled: {counts}: {verdict}")
    failed = result.first_failure
    if failed is not None:
        err.print(f"[red]verify failed at hop {failed.name}:[/] {failed.detail}")
        raise typer.Exit(1)
    if not result.ok:
        err.print(
            "[red]verify failed: the stores' counts do not match the raw points[/]"
        )
        raise typer.Exit(1)


@app.command()
def lag(
    json_: JsonOpt = False,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Only these groups.")
    ] = None,
    config: ConfigOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Every consumer group's lag: offsets behind, worst partition, seconds behind."""
    from metricpipe.lag.offsets import LagReader, threshold_status

    cfg = _load(config, workspace)
    try:
        groups = LagReader(cfg.kafka.bootstrap, cfg.kafka.librdkafka()).read(group)
    except Exception as exc:  # the admin client raises KafkaException subclasses
        raise NotRunningError(
            f"could not read consumer groups from Kafka at {cfg.kafka.bootstrap}: "
            f"{exc}; is the pipeline up (`metricpipe status`)?"
        ) from exc

    if json_:
        warn, error = cfg.lag.warn_lag_s, cfg.lag.error_lag_s
        rows = [
            {**g.as_dict(), "status": threshold_status(g.lag_s, warn, error)}
            for g in groups
        ]
        out.print_json(json.dumps(rows))
        return
    table = Table(
        "group",
        "status",
        "state",
        "lag (offsets)",
        "worst partition",
        "lag (s)",
        "unknown partitions",
    )
    for g in groups:
        shown = g.as_dict()
        seconds = "unknown" if g.lag_s is None else f"{g.lag_s:.1f}"
        table.add_row(
            g.group,
            threshold_status(g.lag_s, cfg.lag.warn_lag_s, cfg.lag.error_lag_s),
            g.state,
            str(g.total_lag),
            str(shown["worst_partition"] or "-"),
            seconds,
            str(g.unknown_partitions),
        )
    out.print(table)


@app.command()
def loadgen(
    count: Annotated[
        int, typer.Option("--count", min=1, help="Messages to send.")
    ] = 100_000,
    rate: Annotated[
        float, typer.Option("--rate", min=0, help="Messages per second; 0 = flat out.")
    ] = 0,
    hosts: Annotated[int, typer.Option("--hosts", min=1, help="Simulated hosts.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same data.")] = 1,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Default: the raw topic.")
    ] = None,
    json_: JsonOpt = False,
    config: ConfigOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Produce realistic Telegraf JSON metrics into Kafka (for benchmarks)."""
    from metricpipe.bench.loadgen import LoadSpec, produce
    from metricpipe.broker.topics import check_reachable

    cfg = _load(config, workspace)
    spec = LoadSpec(hosts=hosts, seed=seed)
    target = topic or cfg.kafka.topics.raw.name
    check_reachable(cfg.kafka, target)
    with err.status(f"Producing {count} messages to {target}…"):
        result = produce(
            cfg.kafka.bootstrap,
            target,
            spec,
            count,
            rate or None,
            client_config=cfg.kafka.librdkafka(),
        )
    shown = {"series": spec.series_count(), "topic": target, **result.as_dict()}
    if json_:
        out.print_json(json.dumps(shown))
    else:
        err.print(
            f"Sent {result.sent} messages ({spec.series_count()} series) in "
            f"{result.seconds:.1f} s: {result.rate:,.0f} messages/s, "
            f"{result.delivery_errors} delivery errors."
        )
    if result.delivery_errors:
        raise typer.Exit(1)


@app.command()
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run of a few minutes.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Only render the table (and README) from this results.json.",
        ),
    ] = None,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Results folder; a timestamped run inside.")
    ] = Path("bench-results"),
    readme: Annotated[
        Path | None,
        typer.Option("--readme", help="Refresh the bench table in this README."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Throughput, freshness and footprint: pipeline vs I/O bound, batch, Telegraf."""
    from metricpipe.bench import report as bench_report

    if report is not None:
        results = json.loads(report.read_text())
    else:
        from metricpipe.bench.run import run_bench

        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        run_dir = out_dir / stamp
        results = run_bench(run_dir / "stack", quick, show_progress=not json_)
        written = bench_report.write_all(results, run_dir)
        err.print(f"Wrote {', '.join(str(p) for p in written)}")
    table = bench_report.markdown(results)
    if readme is not None and not bench_report.update_readme(readme, table):
        raise typer.BadParameter(
            f"{readme} has no {bench_report.README_START} / "
            f"{bench_report.README_END} markers; add them where the table goes",
            param_hint="--readme",
        )
    if json_:
        out.print_json(json.dumps(results))
    else:
        print(table)
    if results.get("unfinished"):
        err.print(f"Unfinished: {results['unfinished']}")
        raise typer.Exit(1)


# --- config --------------------------------------------------------------------------


@config_app.command("sample")
def config_sample() -> None:
    """Print a sample metricpipe.toml with every key and its default."""
    from metricpipe.config import sample_toml

    sys.stdout.write(sample_toml())


@config_app.command("reference")
def config_reference() -> None:
    """Print the config reference as a Markdown table."""
    from metricpipe.config import reference_markdown

    sys.stdout.write(reference_markdown())


@config_app.command("check")
def config_check(config: ConfigOpt = None, json_: JsonOpt = False) -> None:
    """Validate the config (file and environment) and print the result."""
    from metricpipe.errors import ConfigError, ConfigErrors
    from metricpipe.paths import Workspace
    from metricpipe.supervisor.registry import build_services
    from metricpipe.supervisor.supervisor import port_clashes

    cfg = _load(config)
    # Also what `up` checks first: the stores' credentials (reads password files).
    problems = cfg.store.credential_errors()
    if cfg.kafka.secured:
        try:
            cfg.kafka.password()
        except ConfigError as exc:
            problems.append(exc)
    # What `up` checks before the first process starts: the services exist and
    # no two of them listen on one port.
    problems += port_clashes(cfg)
    try:
        build_services(cfg, Workspace.resolve(None))
    except ConfigError as exc:
        problems.append(exc)
    if problems:
        raise ConfigErrors(problems)
    if json_:
        out.print_json(cfg.model_dump_json())
    else:
        err.print("[green]Config is valid.[/]")


# --- dashboards ----------------------------------------------------------------------


@dashboards_app.command("generate")
def dashboards_generate(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to write (committed as ./grafana).")
    ] = Path("grafana"),
    influxdb_url: Annotated[
        str, typer.Option(help="InfluxDB URL for the Grafana datasource.")
    ] = "",
    search_url: Annotated[
        str, typer.Option(help="OpenSearch URL for the Grafana datasource.")
    ] = "",
    influxdb_user: Annotated[
        str,
        typer.Option(
            help="InfluxDB user (basic auth); the password comes from "
            "$METRICPIPE_GRAFANA_INFLUXDB_PASSWORD in Grafana's environment."
        ),
    ] = "",
    search_user: Annotated[
        str,
        typer.Option(
            help="OpenSearch user (basic auth); the password comes from "
            "$METRICPIPE_GRAFANA_SEARCH_PASSWORD in Grafana's environment."
        ),
    ] = "",
) -> None:
    """Write Grafana datasources, dashboard provider and dashboard JSON."""
    from metricpipe.dashboard.grafana.generate import Urls, default_urls, write

    urls = default_urls()
    urls = Urls(
        influxdb_url or urls.influxdb,
        search_url or urls.search,
        influxdb_user,
        search_user,
    )
    for path in write(out_dir, urls):
        err.print(f"  wrote {path}")


@app.command()
def version() -> None:
    """Print metricpipe's version."""
    out.print(__version__)


def main() -> None:
    # A crash in a native library (librdkafka, the JVM bridge) leaves a Python
    # stack in the log instead of a bare exit code.
    faulthandler.enable()
    try:
        # Outside standalone mode click returns the code of a typer.Exit.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except MetricpipeError as exc:
        if os.environ.get("METRICPIPE_DEBUG") == "1":
            err.print_exception()
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("Aborted.")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
