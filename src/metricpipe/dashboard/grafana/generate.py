"""Grafana provisioning as code: datasources, dashboard provider and dashboards.

Built with Grafana's ``grafana-foundation-sdk``. It has Elasticsearch query
builders but none for InfluxDB, so InfluxQL targets are raw dataqueries
(``rawQuery: true`` + ``query``) carried by the SDK's generic query type. The
InfluxQL text is the panel catalogue's, the same the live dashboard runs.

The output folder is committed at the repository root (``grafana/``); a test
regenerates it and fails on any difference.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import elasticsearch as es
from grafana_foundation_sdk.builders import statetimeline, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import dashboard as gm

from metricpipe.dashboard import schema as s
from metricpipe.dashboard.panels import PANELS, VIEWS, Panel, View

log = logging.getLogger(__name__)

INFLUX_UID = "metricpipe-influxdb"
SEARCH_UID = "metricpipe-opensearch"
INFLUX_REF = gm.DataSourceRef(type_val="influxdb", uid=INFLUX_UID)
SEARCH_REF = gm.DataSourceRef(type_val="elasticsearch", uid=SEARCH_UID)
#: Where the README tells Grafana to find the dashboard JSON files.
DASHBOARDS_PATH_ENV = "METRICPIPE_GRAFANA_DASHBOARDS"
PANEL_WIDTH = 12
PANEL_HEIGHT = 8


#: Environment variables Grafana reads the stores' passwords from: provisioning
#: files expand ${NAME}, so no generated file ever holds a password.
INFLUX_PASSWORD_ENV = "METRICPIPE_GRAFANA_INFLUXDB_PASSWORD"
SEARCH_PASSWORD_ENV = "METRICPIPE_GRAFANA_SEARCH_PASSWORD"


@dataclass(frozen=True)
class Urls:
    influxdb: str
    search: str
    #: Users for HTTP basic auth; empty: the datasource sends no credentials.
    influxdb_user: str = ""
    search_user: str = ""


def default_urls() -> Urls:
    """The local stores of a default config: what the committed folder points at."""
    from metricpipe.config import Config

    store = Config().store
    return Urls(
        f"http://127.0.0.1:{store.influxdb_port}",
        f"http://127.0.0.1:{store.opensearch_port}",
    )


class InfluxQLQuery(cogbuilder.Builder[UnknownDataquery]):
    """A raw InfluxQL target: the SDK's generic dataquery with InfluxDB's keys."""

    def __init__(self, ref_id: str, query: str) -> None:
        self._data: dict[str, object] = {
            "refId": ref_id,
            "datasource": {"type": "influxdb", "uid": INFLUX_UID},
            "rawQuery": True,
            "query": query,
            "resultFormat": "time_series",
        }

    def build(self) -> UnknownDataquery:
        return UnknownDataquery(dict(self._data))


def _influx_panel(panel: Panel) -> cogbuilder.Builder[gm.Panel]:
    builder: timeseries.Panel | statetimeline.Panel
    if panel.kind == "state":
        names = {
            str(code): gm.ValueMappingResult(text=name, index=code)
            for code, name in enumerate(s.LAG_STATUSES)
        }
        builder = statetimeline.Panel().mappings([gm.ValueMap(names)])
    else:
        builder = timeseries.Panel()
    builder = (
        builder.title(panel.title)
        .unit(panel.unit)
        .datasource(INFLUX_REF)
        .height(PANEL_HEIGHT)
        .span(PANEL_WIDTH)
    )
    if panel.description:
        builder = builder.description(panel.description)
    for query in panel.queries:
        builder = builder.with_target(InfluxQLQuery(query.ref, query.influxql))
    return builder


def _alert_panels(panel: Panel) -> list[cogbuilder.Builder[gm.Panel]]:
    over_time = (
        es.Dataquery()
        .ref_id("A")
        .datasource(SEARCH_REF)
        .query("*")
        .time_field(s.ALERT_TIME)
        .metrics([es.Count().id("1")])
        .bucket_aggs(
            [
                es.Terms()
                .id("2")
                .field(s.ALERT_SEVERITY)
                .settings(es.ElasticsearchTermsSettings().size("10")),
                es.DateHistogram()
                .id("3")
                .field(s.ALERT_TIME)
                .settings(es.ElasticsearchDateHistogramSettings().interval("auto")),
            ]
        )
    )
    latest = (
        es.Dataquery()
        .ref_id("A")
        .datasource(SEARCH_REF)
        .query("*")
        .time_field(s.ALERT_TIME)
        .metrics(
            [
                es.RawData()
                .id("1")
                .settings(es.ElasticsearchRawDataSettings().size("50"))
            ]
        )
    )
    return [
        timeseries.Panel()
        .title(panel.title)
        .description(panel.description)
        .unit(panel.unit)
        .datasource(SEARCH_REF)
        .height(PANEL_HEIGHT)
        .span(PANEL_WIDTH)
        .with_target(over_time),
        table.Panel()
        .title("Latest anomaly alerts")
        .datasource(SEARCH_REF)
        .height(PANEL_HEIGHT)
        .span(PANEL_WIDTH)
        .with_target(latest),
    ]


def _variables(view: View) -> list[cogbuilder.Builder[gm.VariableModel]]:
    variables: list[cogbuilder.Builder[gm.VariableModel]] = []
    if view == "hosts":
        variables.append(
            gd.QueryVariable("host")
            .label("Host")
            .datasource(INFLUX_REF)
            .query(
                f'SHOW TAG VALUES ON "{s.METRICS_DB}" FROM "{s.CPU}" '
                f'WITH KEY = "{s.TAG_HOST}"'
            )
            .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    if view == "lag":
        variables.append(
            gd.QueryVariable("group")
            .label("Consumer group")
            .datasource(INFLUX_REF)
            .query(
                f'SHOW TAG VALUES ON "{s.PIPELINE_DB}" FROM "{s.CONSUMER_LAG}" '
                f'WITH KEY = "{s.LAG_GROUP_TAG}"'
            )
            .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    return variables


def build_dashboard(view: View) -> gm.Dashboard:
    builder = (
        gd.Dashboard(f"metricpipe: {VIEWS[view]}")
        .uid(f"metricpipe-{view}")
        .tags(["metricpipe"])
        .refresh("10s")
        .time("now-15m", "now")
        .timezone("browser")
        .readonly()
        .variables(_variables(view))
    )
    for panel in PANELS:
        if panel.view != view:
            continue
        if panel.source == "influxdb":
            builder = builder.with_panel(_influx_panel(panel))
        else:
            for alert_panel in _alert_panels(panel):
                builder = builder.with_panel(alert_panel)
    return builder.build()


def _json(value: object) -> str:
    return json.dumps(value, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def _basic_auth(user: str, password_env: str) -> str:
    """Datasource keys for HTTP basic auth, the password from Grafana's environment."""
    if not user:
        return ""
    # json.dumps: a JSON string is a valid YAML scalar, whatever the user holds.
    return f"""\
    basicAuth: true
    basicAuthUser: {json.dumps(user)}
    secureJsonData:
      # Set {password_env} in Grafana's environment.
      basicAuthPassword: "${{{password_env}}}"
"""


def datasources_yaml(urls: Urls) -> str:
    # Written by hand: a fixed shape, and no YAML library needed for it.
    influx_auth = _basic_auth(urls.influxdb_user, INFLUX_PASSWORD_ENV)
    search_auth = _basic_auth(urls.search_user, SEARCH_PASSWORD_ENV)
    return f"""\
# Generated by `metricpipe dashboards generate`; do not edit by hand.
apiVersion: 1
datasources:
  - name: metricpipe InfluxDB
    uid: {INFLUX_UID}
    type: influxdb
    access: proxy
    url: {urls.influxdb}
    # Queries name their database ("metrics".."cpu", "pipeline".."dlq").
    database: {s.METRICS_DB}
    jsonData:
      version: InfluxQL
      httpMode: GET
{influx_auth}    editable: false
  - name: metricpipe OpenSearch
    uid: {SEARCH_UID}
    type: elasticsearch
    access: proxy
    url: {urls.search}
    jsonData:
      index: "{s.ALERTS_INDEX_PATTERN}"
      timeField: {s.ALERT_TIME}
      # OpenSearch answers the Elasticsearch 7.10 API.
      esVersion: "7.10.0"
      maxConcurrentShardRequests: 5
{search_auth}    editable: false
"""


def dashboards_yaml() -> str:
    return f"""\
# Generated by `metricpipe dashboards generate`; do not edit by hand.
apiVersion: 1
providers:
  - name: metricpipe
    folder: metricpipe
    type: file
    disableDeletion: true
    allowUiUpdates: false
    options:
      # Set {DASHBOARDS_PATH_ENV} to the absolute path of grafana/dashboards.
      path: ${DASHBOARDS_PATH_ENV}
"""


def render_all(urls: Urls) -> dict[str, str]:
    """Every generated file, relative path -> text."""
    files = {
        "provisioning/datasources/metricpipe.yaml": datasources_yaml(urls),
        "provisioning/dashboards/metricpipe.yaml": dashboards_yaml(),
    }
    for view in VIEWS:
        files[f"dashboards/metricpipe-{view}.json"] = _json(build_dashboard(view))
    return files


def write(out: Path, urls: Urls) -> list[Path]:
    """Write the folder; files no longer generated are removed."""
    files = render_all(urls)
    written = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    for stale in (out / "dashboards").glob("*.json"):
        if str(stale.relative_to(out)) not in files:
            stale.unlink()
    log.info("Wrote %d Grafana files under %s", len(written), out)
    return written
