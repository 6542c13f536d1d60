"""Configuration of the stores and of the Kafka Connect sinks."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from metricpipe.errors import ConfigError

#: Each store's name in error messages.
_STORE_NAMES = {"influxdb": "InfluxDB", "search": "OpenSearch/Elasticsearch"}


def _credentials(
    prefix: str, username: str, password: SecretStr | None, password_file: str
) -> tuple[str, str] | None:
    """(username, password) of one store from its three keys, or None when the
    store is used without authentication. Raises ConfigError naming the key;
    the password itself is never part of a message."""
    given = password is not None or bool(password_file)
    if not username:
        if given:
            key = f"store.{prefix}_password" + ("" if password is not None else "_file")
            raise ConfigError(
                key,
                "<hidden>" if password is not None else password_file,
                f"is set but store.{prefix}_username is empty",
                f"set store.{prefix}_username too, or remove the password",
            )
        return None

    key = f"store.{prefix}_password"
    secret = ""
    if password is not None:
        secret = password.get_secret_value()
    elif password_file:
        key = f"store.{prefix}_password_file"
        try:
            lines = Path(password_file).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(
                key,
                password_file,
                f"cannot be read ({exc.strerror})",
                "point it at a readable file holding the password",
            ) from None
        secret = lines[0] if lines else ""
    if not secret:
        raise ConfigError(
            key,
            password_file if key.endswith("_file") else "<unset>",
            f"store.{prefix}_username = {username!r} needs a password for "
            f"{_STORE_NAMES[prefix]}",
            f"set METRICPIPE_STORE__{prefix.upper()}_PASSWORD or "
            f"store.{prefix}_password_file (the password on its first line)",
        )
    # A control character would end a line of a generated file (Telegraf's TOML,
    # the Connect secrets file) or of an InfluxQL statement.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in secret):
        raise ConfigError(
            key,
            "<hidden>",
            "the password contains a control character (e.g. a newline)",
            "use printable characters only",
        )
    return username, secret


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # --- InfluxDB -----------------------------------------------------------------
    influxdb_port: int = Field(
        8086, ge=1, le=65535, description="Local InfluxDB HTTP port."
    )
    influxdb_rpc_port: int = Field(
        0,
        ge=0,
        le=65535,
        description=(
            "Local InfluxDB backup/restore RPC port, bound to 127.0.0.1; 0 picks a "
            "free port at each start."
        ),
    )
    influxdb_database: str = Field(
        "metrics", min_length=1, description="InfluxDB database the rollups go to."
    )
    influxdb_pipeline_database: str = Field(
        "pipeline",
        min_length=1,
        description="InfluxDB database for the pipeline's own metrics.",
    )
    influxdb_retention_days: int = Field(
        30, ge=1, description="How long rollup points are kept in InfluxDB."
    )
    influxdb_pipeline_retention_days: int = Field(
        7, ge=1, description="How long the pipeline's own metrics are kept."
    )
    influxdb_measurement_prefix: str = Field(
        "rollup_",
        description="Prefix of InfluxDB measurements: rollup_<measurement>.",
    )
    influxdb_username: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._-]*$",
        description=(
            "InfluxDB user every client logs in as (HTTP basic auth). Set: the "
            "local InfluxDB runs with auth-enabled and creates this admin user at "
            "its first start. Empty: no authentication."
        ),
    )
    influxdb_password: SecretStr | None = Field(
        None,
        description=(
            "InfluxDB password; better from METRICPIPE_STORE__INFLUXDB_PASSWORD or "
            "store.influxdb_password_file than in the file. Never printed."
        ),
    )
    influxdb_password_file: str = Field(
        "",
        description=(
            "File holding the InfluxDB password (first line), if not given above."
        ),
    )

    # --- OpenSearch / Elasticsearch --------------------------------------------------
    opensearch_port: int = Field(
        9200, ge=1, le=65535, description="Local OpenSearch HTTP port."
    )
    opensearch_transport_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Local OpenSearch transport port; 0 picks a free port at start.",
    )
    opensearch_heap_mb: int = Field(
        768, ge=256, le=16384, description="JVM heap of local OpenSearch, in MiB."
    )
    search_flavor: Literal["opensearch", "elasticsearch"] = Field(
        "opensearch",
        description=(
            "Which search engine the sink talks to; both use the same _bulk and "
            "_index_template APIs."
        ),
    )
    search_url: str = Field(
        "",
        description=(
            "An existing OpenSearch or Elasticsearch 8/9 cluster to write to, as "
            "http(s)://host:port. Empty uses the local OpenSearch."
        ),
    )
    search_username: str = Field(
        "",
        pattern=r"^[^:\x00-\x1f\x7f]*$",
        description=(
            "User the sinks, the dashboard and verify log in to search_url as "
            "(HTTP basic auth). Only with search_url: the local OpenSearch has no "
            "security plugin. Empty: no authentication."
        ),
    )
    search_password: SecretStr | None = Field(
        None,
        description=(
            "Search password; better from METRICPIPE_STORE__SEARCH_PASSWORD or "
            "store.search_password_file than in the file. Never printed."
        ),
    )
    search_password_file: str = Field(
        "",
        description=(
            "File holding the search password (first line), if not given above."
        ),
    )
    rollup_index_prefix: str = Field(
        "metrics-rollup",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Daily rollup indices are <prefix>-YYYY.MM.DD (by window start).",
    )
    alerts_index_prefix: str = Field(
        "metrics-alerts",
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="Daily alert indices are <prefix>-YYYY.MM.DD (by window start).",
    )
    search_retention_days: int = Field(
        14, ge=1, description="Daily indices older than this are deleted."
    )

    # --- Kafka Connect --------------------------------------------------------------
    connect_port: int = Field(
        8083, ge=1, le=65535, description="Kafka Connect REST port."
    )
    connect_heap_mb: int = Field(
        512, ge=256, le=16384, description="JVM heap of the Connect worker, in MiB."
    )
    connect_group_id: str = Field(
        "metricpipe-connect",
        min_length=1,
        description="Connect cluster group id; also prefixes its internal topics.",
    )
    sink_tasks: int = Field(
        1, ge=1, le=64, description="Tasks per sink connector (max parallelism)."
    )
    sink_request_timeout_s: float = Field(
        10.0, gt=0, description="Timeout of one request from a sink to a store."
    )
    sink_retry_backoff_ms: int = Field(
        1000,
        ge=10,
        description="Wait before Connect redelivers a batch a store did not take.",
    )
    sink_offset_flush_interval_ms: int = Field(
        5000, ge=100, description="How often Connect commits sink offsets."
    )
    connectors_ready_timeout_s: float = Field(
        90.0, gt=0, description="How long after_ready waits for RUNNING tasks."
    )

    def influxdb_auth(self) -> tuple[str, str] | None:
        """(user, password) for InfluxDB's HTTP API; None: no authentication."""
        return _credentials(
            "influxdb",
            self.influxdb_username,
            self.influxdb_password,
            self.influxdb_password_file,
        )

    def search_auth(self) -> tuple[str, str] | None:
        """(user, password) for search_url; None: no authentication."""
        return _credentials(
            "search",
            self.search_username,
            self.search_password,
            self.search_password_file,
        )

    def credential_errors(self) -> list[ConfigError]:
        """Every problem with the stores' credentials (reads the password files)."""
        problems = []
        for check in (self.influxdb_auth, self.search_auth):
            try:
                check()
            except ConfigError as exc:
                problems.append(exc)
        return problems
