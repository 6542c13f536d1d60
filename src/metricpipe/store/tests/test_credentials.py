"""Store credentials without a store: where the passwords come from, what each
generated file holds (and its mode), and that every client of ours sends them.

The clients are checked against ``BasicAuthStub``, a tiny HTTP server in this
file that answers 401 without the right basic auth header and records every
request. It tests OUR request building only: it is not OpenSearch, Elasticsearch
or InfluxDB, and says nothing about how a real secured cluster behaves. (The
real InfluxDB with auth-enabled is covered by test_influxdb_auth.py; no secured
OpenSearch or Elasticsearch can be run here.)
"""

import asyncio
import base64
import json
import re
import stat
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from metricpipe.bench import peer
from metricpipe.bench.run import WindowWatch
from metricpipe.collect.telegraf_conf import telegraf_toml
from metricpipe.config import (
    dump_with_secrets,
    load_config,
    save_running_config,
    validate_config,
)
from metricpipe.dashboard import queries
from metricpipe.dashboard.grafana.generate import Urls, datasources_yaml
from metricpipe.dashboard.service import DashboardService
from metricpipe.dashboard.settings import Settings
from metricpipe.errors import ConfigError, ConfigErrors
from metricpipe.paths import Workspace
from metricpipe.store.connect import ConnectService, connector_configs
from metricpipe.store.influxdb import InfluxDBService, influx_query
from metricpipe.store.opensearch import OpenSearchService
from metricpipe.store.search import install_templates, prune_indices
from metricpipe.supervisor.registry import build_services
from metricpipe.supervisor.supervisor import Supervisor
from metricpipe.verify.canary import Verifier
from metricpipe.verify.reconcile import influxdb_rollups, opensearch_rollups

pytestmark = pytest.mark.fast

USER = "metricpipe-admin"
#: Letters and digits only, so it shows as is in every file that holds it.
MARK = "s3cretInfluxMark"
#: Every character some generated file must escape: \ " ' $ # = space, non-ASCII.
SECRET = MARK + "\\\"x'y $HOME$$z #=é"
STACK = ["kafka", "influxdb", "connect", "telegraf", "dashboard"]


def _influx_config(**extra: Any) -> dict[str, Any]:
    return {
        "supervisor": {"services": STACK},
        "store": {"influxdb_username": USER, "influxdb_password": SECRET, **extra},
    }


# --- where the credentials come from -------------------------------------------


def test_unset_means_no_authentication() -> None:
    store = validate_config({}).store
    assert store.influxdb_auth() is None
    assert store.search_auth() is None
    assert store.credential_errors() == []


def test_passwords_come_from_the_environment_and_are_never_dumped() -> None:
    config = load_config(
        None,
        environ={
            "METRICPIPE_STORE__INFLUXDB_USERNAME": USER,
            "METRICPIPE_STORE__INFLUXDB_PASSWORD": SECRET,
            "METRICPIPE_STORE__SEARCH_USERNAME": "elastic",
            "METRICPIPE_STORE__SEARCH_PASSWORD": SECRET,
        },
    )
    assert config.store.influxdb_auth() == (USER, SECRET)
    assert config.store.search_auth() == ("elastic", SECRET)
    assert MARK not in config.model_dump_json()
    assert MARK not in repr(config)
    assert dump_with_secrets(config)["store"]["influxdb_password"] == SECRET


def test_passwords_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(SECRET + "\nignored second line\n")
    store = validate_config(
        {
            "store": {
                "influxdb_username": USER,
                "influxdb_password_file": str(secret),
                "search_username": "elastic",
                "search_password_file": str(secret),
            }
        }
    ).store
    assert store.influxdb_auth() == (USER, SECRET)
    assert store.search_auth() == ("elastic", SECRET)


@pytest.mark.parametrize(
    ("store", "key", "shown", "says"),
    [
        (
            {"influxdb_username": USER},
            "store.influxdb_password",
            "<unset>",
            "METRICPIPE_STORE__INFLUXDB_PASSWORD",
        ),
        (
            {"influxdb_password": SECRET},
            "store.influxdb_password",
            "<hidden>",
            "set store.influxdb_username",
        ),
        (
            {"search_username": "elastic", "search_password": ""},
            "store.search_password",
            "<unset>",
            "store.search_password_file",
        ),
        (
            {"search_username": "elastic", "search_password_file": "/nonexistent/pw"},
            "store.search_password_file",
            "/nonexistent/pw",
            "cannot be read",
        ),
        (
            {"influxdb_username": USER, "influxdb_password": MARK + "\nx"},
            "store.influxdb_password",
            "<hidden>",
            "control character",
        ),
    ],
)
def test_credential_errors_name_the_key_and_the_fix_never_the_password(
    store: dict[str, Any], key: str, shown: str, says: str
) -> None:
    problems = validate_config({"store": store}).store.credential_errors()

    assert [p.key for p in problems] == [key]
    assert problems[0].value == shown
    assert says in str(problems[0])
    assert MARK not in str(problems[0])


def test_up_refuses_bad_credentials_before_anything_starts(tmp_path: Path) -> None:
    config = validate_config({"store": {"influxdb_username": USER}})
    supervisor = Supervisor(
        config, Workspace(tmp_path), build_services(config, Workspace(tmp_path))
    )
    with pytest.raises(ConfigErrors, match=r"store\.influxdb_password"):
        supervisor.validate()
    assert not (tmp_path / "conf").exists()


def test_a_bad_value_of_a_secret_key_is_named_never_shown() -> None:
    with pytest.raises(ConfigErrors) as caught:
        validate_config({"store": {"influxdb_password": 31337}})
    assert "31337" not in str(caught.value)
    assert "'store.influxdb_password' has value '<hidden>'" in str(caught.value)


def test_user_names_that_would_break_a_header_or_a_statement_are_refused() -> None:
    with pytest.raises(ConfigErrors, match="influxdb_username"):
        validate_config({"store": {"influxdb_username": 'a"b'}})
    with pytest.raises(ConfigErrors, match="search_username"):
        validate_config({"store": {"search_username": "a:b"}})


def test_search_credentials_with_the_local_opensearch_are_refused(
    tmp_path: Path,
) -> None:
    config = validate_config(
        {"store": {"search_username": "elastic", "search_password": SECRET}}
    )
    with pytest.raises(ConfigError, match="without the security plugin"):
        OpenSearchService(config, Workspace(tmp_path)).validate()


def test_running_config_keeps_store_secrets_apart(tmp_path: Path) -> None:
    config = validate_config(_influx_config())
    save_running_config(config, tmp_path)

    assert MARK not in (tmp_path / "config.json").read_text()
    secrets = tmp_path / "secrets.json"
    assert json.loads(secrets.read_text())["store"]["influxdb_password"] == SECRET
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600


# --- generated files ---------------------------------------------------------------


def test_influxd_turns_auth_on_only_with_a_user(tmp_path: Path) -> None:
    plain = InfluxDBService(validate_config({}), Workspace(tmp_path))
    secured = InfluxDBService(validate_config(_influx_config()), Workspace(tmp_path))

    assert "auth-enabled = false" in plain.influxd_config(rpc_port=1)
    text = secured.influxd_config(rpc_port=1)
    assert "auth-enabled = true" in text
    # Statements are never logged, and the file holds no password.
    assert "query-log-enabled = false" in text
    assert "log-enabled = false" in text
    assert MARK not in text


def test_telegraf_logs_in_to_influxdb_with_a_literal_password() -> None:
    conf = tomllib.loads(telegraf_toml(validate_config(_influx_config())))

    output = conf["outputs"]["influxdb"][0]
    assert output["username"] == USER
    # Telegraf expands $NAME inside strings and reads $$ as $.
    assert output["password"] == SECRET.replace("$", "$$")
    assert conf["inputs"]["influxdb"][0]["password"] == output["password"]

    plain = tomllib.loads(telegraf_toml(validate_config({})))
    assert "username" not in plain["outputs"]["influxdb"][0]


def test_telegraf_refuses_a_password_it_would_read_as_a_secret_reference() -> None:
    config = validate_config(_influx_config(influxdb_password="a@{vault:key}b"))
    with pytest.raises(ConfigError, match="secret-store reference"):
        telegraf_toml(config)


def _decode_properties(text: str) -> dict[str, str]:
    """Enough of java.util.Properties for our file: key=value with \\uXXXX."""
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        units = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m[1], 16)), value)
        values[key] = units.encode("utf-16", "surrogatepass").decode("utf-16")
    return values


def test_connect_gets_the_password_as_a_file_reference_only(tmp_path: Path) -> None:
    config = validate_config(_influx_config())
    service = ConnectService(config, Workspace(tmp_path))
    service.prepare()

    worker = service.properties_file.read_text()
    assert "config.providers=file" in worker
    assert (
        "config.providers.file.class="
        "org.apache.kafka.common.config.provider.FileConfigProvider"
    ) in worker
    assert MARK not in worker

    secrets = service.secrets_file
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    text = secrets.read_text()
    assert text.isascii() and " " not in text
    assert _decode_properties(text) == {"influxdb.password": SECRET}

    connectors = connector_configs(config, secrets)
    assert set(connectors) == {"influxdb-rollup", "influxdb-alert"}
    for body in connectors.values():
        assert body["store.username"] == USER
        assert body["store.password"] == f"${{file:{secrets}:influxdb.password}}"
    assert MARK not in json.dumps(connectors)


def test_connectors_without_credentials_are_unchanged(tmp_path: Path) -> None:
    config = validate_config({"supervisor": {"services": STACK}})
    service = ConnectService(config, Workspace(tmp_path))
    service.prepare()

    assert service.secrets_file.read_text() == ""
    for body in connector_configs(config, service.secrets_file).values():
        assert "store.username" not in body
        assert "store.password" not in body


def test_search_sinks_reference_their_own_password(tmp_path: Path) -> None:
    config = validate_config(
        {
            "supervisor": {"services": ["kafka", "connect"]},
            "store": {
                "search_url": "https://search.example:9200",
                "search_username": "elastic",
                "search_password": SECRET,
            },
        }
    )
    service = ConnectService(config, Workspace(tmp_path))
    service.prepare()

    assert _decode_properties(service.secrets_file.read_text()) == {
        "search.password": SECRET
    }
    body = connector_configs(config, service.secrets_file)["opensearch-rollup"]
    assert body["store.username"] == "elastic"
    assert body["store.password"].endswith(":search.password}")


def test_dashboard_settings_hold_the_credentials_in_a_private_file(
    tmp_path: Path,
) -> None:
    service = DashboardService(validate_config(_influx_config()), Workspace(tmp_path))
    service.prepare()

    settings = Settings.read(service.settings_file)
    assert settings.influx_auth == (USER, SECRET)
    assert settings.search_auth is None
    assert stat.S_IMODE(service.settings_file.stat().st_mode) == 0o600


def test_grafana_references_the_password_from_its_environment() -> None:
    text = datasources_yaml(Urls("http://i:8086", "http://s:9200", USER, "elastic"))

    assert f'basicAuthUser: "{USER}"' in text
    assert 'basicAuthPassword: "${METRICPIPE_GRAFANA_INFLUXDB_PASSWORD}"' in text
    assert 'basicAuthPassword: "${METRICPIPE_GRAFANA_SEARCH_PASSWORD}"' in text
    assert "basicAuth" not in datasources_yaml(Urls("http://i:8086", "http://s:9"))


def test_the_bench_peer_config_is_private(tmp_path: Path) -> None:
    toml = peer.peer_toml(
        "127.0.0.1:9", "t", "http://127.0.0.1:8086", 10, (USER, SECRET)
    )
    output = tomllib.loads(toml)["outputs"]["influxdb"][0]
    assert output["password"] == SECRET.replace("$", "$$")


# --- our clients against a stub that demands basic auth ------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str
    body: str


@dataclass
class BasicAuthStub:
    """Answers 401 unless the basic auth header is right; records every request."""

    user: str
    password: str
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expected(self) -> str:
        pair = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def answer(self, path: str) -> tuple[int, Any]:
        if path.endswith("/query"):
            return 200, {"results": [{"statement_id": 0}]}
        if path.endswith("/write"):
            return 204, None
        if path.startswith("/_cat/indices"):
            return 200, []
        if "/_doc/" in path:
            return 404, {"found": False}
        if path.endswith("/_search") or path.endswith("/_search/scroll"):
            return 200, {"hits": {"hits": []}, "_scroll_id": "s", "aggregations": {}}
        return 200, {"acknowledged": True}


@pytest.fixture
def stub() -> Iterator[BasicAuthStub]:
    server_stub = BasicAuthStub(USER, SECRET)

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            server_stub.seen.append(
                Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    self.headers.get("Authorization", ""),
                    self.rfile.read(length).decode(),
                )
            )
            if server_stub.seen[-1].authorization != server_stub.expected():
                status, body = 401, {"error": "authorization failed"}
            else:
                status, body = server_stub.answer(parts.path)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = handle_one

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_stub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_stub
    finally:
        server.shutdown()
        server.server_close()


def _assert_all_authorized(stub: BasicAuthStub, at_least: int) -> None:
    assert len(stub.seen) >= at_least, stub.seen
    for request in stub.seen:
        assert request.authorization == stub.expected(), request
        assert MARK not in request.path
        assert MARK not in json.dumps(request.query)


def test_search_clients_send_basic_auth(stub: BasicAuthStub) -> None:
    config = validate_config(
        {
            "supervisor": {"services": ["kafka", "connect"]},
            "store": {
                "search_url": stub.url,
                "search_username": USER,
                "search_password": SECRET,
            },
        }
    )
    store = config.store
    install_templates(store)
    prune_indices(store)
    opensearch_rollups(stub.url, "metrics-rollup", "h", auth=store.search_auth())
    verifier = Verifier(config)
    verifier._search_doc("k", 0, 1)

    async def alerts() -> None:
        async with httpx.AsyncClient() as client:
            await queries.alerts_panel(
                client, stub.url, queries.parse_params({}), store.search_auth()
            )

    asyncio.run(alerts())
    # Templates (2), two _cat/indices, refresh + search + scroll delete, one
    # document, one dashboard search.
    _assert_all_authorized(stub, 9)
    assert {r.path for r in stub.seen} >= {
        "/_index_template/metricpipe-rollup",
        "/_cat/indices/metrics-rollup-*",
        "/metrics-rollup-*/_search",
        "/metrics-alerts-*/_search",
    }


def test_search_clients_without_credentials_are_refused_by_the_stub(
    stub: BasicAuthStub,
) -> None:
    store = validate_config({"store": {"search_url": stub.url}}).store
    with pytest.raises(Exception, match="401"):
        install_templates(store)


def test_influxdb_clients_send_basic_auth_and_no_password_in_a_url(
    stub: BasicAuthStub, tmp_path: Path
) -> None:
    config = validate_config(_influx_config(influxdb_port=stub.port))
    auth = config.store.influxdb_auth()

    service = InfluxDBService(config, Workspace(tmp_path))
    service.after_ready()  # creates the admin user, then the databases
    create_user = stub.seen[0]
    assert create_user.method == "POST"
    statement = parse_qs(create_user.body)["q"][0]
    assert statement.startswith(f'CREATE USER "{USER}" WITH PASSWORD ')
    assert statement.endswith(" WITH ALL PRIVILEGES")
    # InfluxQL string escapes: \\ and \'.
    assert "'" + SECRET.replace("\\", "\\\\").replace("'", "\\'") + "'" in statement

    influx_query(stub.port, "SHOW DATABASES", auth=auth)
    verifier = Verifier(config)
    verifier._influx_count(1)
    influxdb_rollups(stub.url, "metrics", "rollup_", ["cpu"], "h", auth=auth)
    WindowWatch(config, "cpu", 0)._influx_totals()
    peer.create_database(stub.url, auth)

    async def dashboard() -> None:
        async with httpx.AsyncClient() as client:
            await queries.lag_statuses(client, stub.url, auth)
            await queries.dlq_rate(client, stub.url, auth)

    asyncio.run(dashboard())
    # after_ready: 1 + 2 x 3; then 1 + 1 + 1 + 1 + 1 + 2.
    _assert_all_authorized(stub, 14)


def test_influxdb_clients_without_credentials_are_refused_by_the_stub(
    stub: BasicAuthStub,
) -> None:
    with pytest.raises(httpx.HTTPStatusError, match="401"):
        influx_query(stub.port, "SHOW DATABASES")


def test_a_refused_admin_user_says_what_to_do(
    stub: BasicAuthStub, tmp_path: Path
) -> None:
    config = validate_config(
        _influx_config(influxdb_port=stub.port, influxdb_password="Wr0ngPassMark")
    )
    with pytest.raises(Exception, match="fresh --workspace") as caught:
        InfluxDBService(config, Workspace(tmp_path)).after_ready()
    assert "Wr0ngPassMark" not in str(caught.value)


def test_config_check_reports_credential_problems(tmp_path: Path) -> None:
    from metricpipe.testing import cli

    config_file = tmp_path / "metricpipe.toml"
    config_file.write_text(f'[store]\ninfluxdb_username = "{USER}"\n')
    result = cli("config", "check", "--config", str(config_file))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "store.influxdb_password" in result.stderr
    assert "METRICPIPE_STORE__INFLUXDB_PASSWORD" in result.stderr
