"""The built-in live dashboard: a small read-only Starlette app.

It serves one page, the charting library from the component cache (never a CDN),
and a JSON API with one endpoint per panel. Every query it runs comes from the
panel catalogue, filled in with validated parameters only.

Run by the supervisor as ``python -m metricpipe.dashboard.server <settings.json>``.
"""

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from metricpipe.dashboard import queries
from metricpipe.dashboard.panels import PANELS, VIEWS, by_id
from metricpipe.dashboard.schema import CONNECT_SINK, CONSUMER_LAG
from metricpipe.dashboard.settings import Settings
from metricpipe.lag.offsets import LagReader, telegraf_rows
from metricpipe.lag.sinks import SinkMeter
from metricpipe.supervisor.state import PipelineState, observed

log = logging.getLogger(__name__)

#: Page assets shipped in this package, by URL name.
ASSETS = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
#: Files of the charting library served from the component cache, by URL name.
VENDOR = {
    "uPlot.iife.min.js": ("dist/uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": ("dist/uPlot.min.css", "text/css"),
}
NO_STORE = {"Cache-Control": "no-store"}


def _asset(name: str) -> bytes:
    return resources.files("metricpipe.dashboard").joinpath("static", name).read_bytes()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


#: The only methods the dashboard answers; it never changes any state.
READ_ONLY = ["GET", "HEAD"]


def create_app(settings: Settings) -> Starlette:
    """The ASGI app; tests drive it directly with Starlette's TestClient."""
    client_holder: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as client:
            client_holder["client"] = client
            yield

    def client() -> httpx.AsyncClient:
        # Without a lifespan (some test clients) make one lazily.
        if "client" not in client_holder:
            client_holder["client"] = httpx.AsyncClient()
        return client_holder["client"]

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def index(_: Request) -> Response:
        page = (
            _asset("index.html")
            .decode()
            .replace("{{REFRESH_S}}", str(settings.refresh_s))
        )
        return Response(page, media_type="text/html", headers=NO_STORE)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS or name == "index.html":
            return _error(404, f"no asset {name!r}")
        return Response(_asset(name), media_type=ASSETS[name])

    async def vendor(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in VENDOR:
            return _error(404, f"no vendor file {name!r}")
        relative, media_type = VENDOR[name]
        path = Path(settings.static_dir) / relative
        if not path.is_file():
            return _error(
                503,
                f"the charting library is missing at {path}",
                fix="run `make setup` (installs the uplot component)",
            )
        return FileResponse(path, media_type=media_type)

    async def panel_list(_: Request) -> Response:
        return JSONResponse(
            {
                "views": VIEWS,
                "ranges": list(queries.RANGES),
                "refresh_s": settings.refresh_s,
                "panels": [
                    {
                        "id": p.id,
                        "title": p.title,
                        "view": p.view,
                        "unit": p.unit,
                        "source": p.source,
                        "kind": p.kind,
                    }
                    for p in PANELS
                ],
            }
        )

    async def panel_data(request: Request) -> Response:
        panel_id = request.path_params["panel_id"]
        try:
            panel = by_id(panel_id)
        except KeyError:
            return _error(404, f"no panel {panel_id!r}", parameter="panel")
        try:
            params = queries.parse_params(dict(request.query_params))
        except queries.ParamError as exc:
            return _error(400, str(exc), parameter=exc.key)

        rows: list[dict[str, Any]] = []
        try:
            if panel.source == "influxdb":
                series = await queries.influx_panel(
                    client(), settings.influxdb_url, panel, params, settings.influx_auth
                )
            else:
                series, rows = await queries.alerts_panel(
                    client(), settings.search_url, params, settings.search_auth
                )
        except queries.StoreError as exc:
            log.warning("Panel %s: %s", panel.id, exc)
            return _error(502, str(exc), source=panel.source)

        return JSONResponse(
            {
                "id": panel.id,
                "range": params.range,
                "series": series,
                "rows": rows,
                "points": sum(len(x["points"]) for x in series),
            },
            headers=NO_STORE,
        )

    lag_reader: list[LagReader] = []
    sink_meter: list[SinkMeter] = []

    def read_lag() -> list[dict[str, object]]:
        # One reader for the process: it keeps the samples rates are made from.
        if not lag_reader:
            client = settings.kafka_client
            lag_reader.append(LagReader(settings.kafka_bootstrap, client))
            sink_meter.append(
                SinkMeter(settings.kafka_bootstrap, settings.sink_dlq_topic, client)
            )
        groups = lag_reader[0].read()
        rows = [
            {"measurement": CONSUMER_LAG, **row}
            for row in telegraf_rows(groups, settings.lag_warn_s, settings.lag_error_s)
        ]
        rows += [
            {"measurement": CONNECT_SINK, **row} for row in sink_meter[0].rows(groups)
        ]
        return rows

    async def lag(_: Request) -> Response:
        """Every group's lag and every sink's throughput, flat, for Telegraf to ship
        to InfluxDB (the ``measurement`` key names each row's measurement)."""
        if not settings.kafka_bootstrap:
            return _error(404, "no Kafka configured for this dashboard")
        try:
            rows = await run_in_threadpool(read_lag)
        except Exception as exc:  # librdkafka raises KafkaException and friends
            return _error(502, f"Kafka at {settings.kafka_bootstrap}: {exc}")
        return JSONResponse(rows, headers=NO_STORE)

    async def health(_: Request) -> Response:
        state = PipelineState.read(Path(settings.state_file))
        services = (
            [asdict(x) for x in observed(state).services] if state is not None else []
        )
        lag: dict[str, str] | None
        dlq: float | None
        try:
            url, auth = settings.influxdb_url, settings.influx_auth
            lag = await queries.lag_statuses(client(), url, auth)
            dlq = await queries.dlq_rate(client(), url, auth)
        except queries.StoreError as exc:
            log.warning("Health: %s", exc)
            lag, dlq = None, None
        return JSONResponse(
            {
                "overall": overall(services, lag, dlq),
                "services": [
                    {k: x[k] for k in ("name", "state", "endpoint", "restarts")}
                    for x in services
                ],
                "lag": lag,
                "dlq_rate": dlq,
            },
            headers=NO_STORE,
        )

    return Starlette(
        # Read-only by design: GET (and HEAD) only; anything else is a 405.
        routes=[
            Route(path, endpoint, methods=READ_ONLY)
            for path, endpoint in (
                ("/", index),
                ("/healthz", healthz),
                ("/assets/{name}", asset),
                ("/vendor/{name}", vendor),
                ("/api/panels", panel_list),
                ("/api/panels/{panel_id}", panel_data),
                ("/api/health", health),
                ("/api/lag", lag),
            )
        ],
        lifespan=lifespan,
    )


def overall(
    services: list[dict[str, Any]], lag: dict[str, str] | None, dlq: float | None
) -> str:
    """One word for the header: ok, warn or error."""
    states = [x["state"] for x in services]
    if "failed" in states or any(
        v in ("ERR", "STOP", "STALL") for v in (lag or {}).values()
    ):
        return "error"
    if lag is None or dlq is None or "starting" in states:
        return "warn"
    if any(v != "OK" for v in lag.values()) or dlq > 0:
        return "warn"
    return "ok"


def main(argv: list[str]) -> None:
    settings = Settings.read(Path(argv[0]))
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
