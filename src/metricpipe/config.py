"""The one configuration file, ``metricpipe.toml``.

Each stage owns its section model in its own package; this module assembles them,
loads the TOML file, applies ``METRICPIPE_<SECTION>__<KEY>`` environment overrides
and turns every validation problem into a :class:`ConfigError` that names the key,
the bad value and what is allowed. The sample file and the README's reference are
generated from these models, so the docs cannot drift from the code.
"""

import json
import os
import tomllib
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from metricpipe.broker.config import KafkaConfig
from metricpipe.collect.config import CollectConfig
from metricpipe.dashboard.config import DashboardConfig
from metricpipe.errors import ConfigError, ConfigErrors
from metricpipe.lag.config import LagConfig
from metricpipe.process.config import ProcessConfig
from metricpipe.store.config import StoreConfig
from metricpipe.supervisor.config import SupervisorConfig

ENV_PREFIX = "METRICPIPE_"
ENV_DELIMITER = "__"
CONFIG_ENV = "METRICPIPE_CONFIG"
DEFAULT_CONFIG = "metricpipe.toml"


class Config(BaseModel):
    """The whole pipeline's configuration."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    supervisor: SupervisorConfig = Field(
        default_factory=SupervisorConfig,
        description="How services are started, watched and restarted.",
    )
    kafka: KafkaConfig = Field(
        default_factory=KafkaConfig,
        description="The Kafka broker and the pipeline's topics.",
    )
    collect: CollectConfig = Field(
        default_factory=CollectConfig,
        description="Telegraf: what it collects and how it ships to Kafka.",
    )
    process: ProcessConfig = Field(
        default_factory=ProcessConfig,
        description="The Spark Structured Streaming job.",
    )
    store: StoreConfig = Field(
        default_factory=StoreConfig,
        description="OpenSearch, InfluxDB and the Kafka Connect sinks.",
    )
    lag: LagConfig = Field(
        default_factory=LagConfig,
        description="Consumer lag monitoring.",
    )
    dashboard: DashboardConfig = Field(
        default_factory=DashboardConfig,
        description="The built-in live dashboard.",
    )


def _is_list_field(path: list[str]) -> bool:
    """Whether the dotted path names a list-valued key of the config."""
    model: Any = Config
    for part in path:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        model = fields[part].annotation
    return get_origin(model) is list


def _is_secret_field(path: list[str]) -> bool:
    """Whether the dotted path names a secret key (SecretStr) of the config."""
    model: Any = Config
    for part in path:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        model = fields[part].annotation
    return SecretStr in (model, *get_args(model))


def _env_value(path: list[str], value: str) -> Any:
    """Lists come from the environment as JSON or as comma-separated words."""
    if not _is_list_field(path):
        return value
    if value.strip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return [word.strip() for word in value.split(",") if word.strip()]


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """Nested dict from ``METRICPIPE_SECTION__KEY=value`` variables."""
    sections = set(Config.model_fields)
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or ENV_DELIMITER not in name:
            continue

        path = name[len(ENV_PREFIX) :].lower().split(ENV_DELIMITER)
        if path[0] not in sections:
            raise ConfigError(
                name,
                value,
                f"no config section {path[0]!r}",
                f"use one of {', '.join(sorted(sections))}",
            )

        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _env_value(path, value)
    return tree


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe_allowed(error: Any) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown key; check the spelling against metricpipe.sample.toml"
    return message[0].lower() + message[1:]


def validate_config(data: dict[str, Any]) -> Config:
    """Build a :class:`Config`, or raise :class:`ConfigErrors` naming every bad key."""
    # Partial sections, e.g. one key of [kafka.topics.raw], fill in from defaults.
    data = merge(Config().model_dump(), data)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = [str(part) for part in error["loc"]]
            # A bad secret (e.g. a number) is named, never shown.
            shown = "<hidden>" if _is_secret_field(path) else error.get("input")
            problems.append(
                ConfigError(".".join(path), shown, _describe_allowed(error))
            )
        raise ConfigErrors(problems) from None


def config_path(given: str | Path | None) -> Path | None:
    """The config file to read: the flag, then ``$METRICPIPE_CONFIG``, then ./."""
    if given:
        return Path(given)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    default = Path(DEFAULT_CONFIG)
    return default if default.exists() else None


def load_config(
    path: str | Path | None = None, environ: dict[str, str] | None = None
) -> Config:
    """Read the TOML file (if any), apply env overrides, validate everything."""
    data: dict[str, Any] = {}
    resolved = config_path(path)
    if resolved is not None:
        if not resolved.exists():
            raise ConfigError(
                "--config",
                str(resolved),
                "the file does not exist",
                "pass an existing file",
            )
        try:
            data = tomllib.loads(resolved.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                "--config", str(resolved), f"not valid TOML ({exc})", "fix the syntax"
            ) from None

    overrides = _env_overrides(dict(os.environ if environ is None else environ))
    return validate_config(merge(data, overrides))


# --- Documentation generated from the models -------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        return "<unset>"
    return str(value)


def _type_name(field: FieldInfo) -> str:
    annotation = field.annotation
    if get_origin(annotation) is not None:
        args = ", ".join(getattr(a, "__name__", str(a)) for a in get_args(annotation))
        return f"{getattr(get_origin(annotation), '__name__', 'value')}[{args}]"
    return getattr(annotation, "__name__", str(annotation))


def _walk(instance: BaseModel, prefix: str) -> list[tuple[str, FieldInfo, Any]]:
    """Every leaf key of a model instance as (dotted key, field, default)."""
    leaves = []
    for name, field in type(instance).model_fields.items():
        value = getattr(instance, name)
        if isinstance(value, BaseModel):
            leaves.extend(_walk(value, f"{prefix}{name}."))
        else:
            leaves.append((f"{prefix}{name}", field, value))
    return leaves


def sample_toml() -> str:
    """The commented sample config: every key, its meaning and its default."""
    lines = [
        "# metricpipe.toml: every key with its default. Generated by",
        "# `metricpipe config sample`; do not edit by hand.",
        "# Any key can also be set from the environment as",
        "# METRICPIPE_<SECTION>__<KEY>, e.g. METRICPIPE_KAFKA__PORT=19092.",
    ]
    defaults = Config()
    for section, field in Config.model_fields.items():
        lines += ["", f"# {field.description}", f"[{section}]"]
        current_table = section
        for key, leaf, default in _walk(getattr(defaults, section), ""):
            table, _, name = key.rpartition(".")
            full_table = f"{section}.{table}" if table else section
            if full_table != current_table:
                lines += ["", f"[{full_table}]"]
                current_table = full_table
            lines.append(f"# {leaf.description or name}")
            lines.append(f"# {name} = {_toml_value(default)}")
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    """The config reference table for the README."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    defaults = Config()
    for section in Config.model_fields:
        for key, leaf, default in _walk(getattr(defaults, section), f"{section}."):
            shown = _toml_value(default).replace("|", "\\|")
            meaning = leaf.description or ""
            rows.append(f"| `{key}` | {_type_name(leaf)} | `{shown}` | {meaning} |")
    return "\n".join(rows) + "\n"


RUNNING_CONFIG = "config.json"
#: The secrets of the running config, apart, so config.json never holds one.
RUNNING_SECRETS = "secrets.json"


def _secrets(model: BaseModel) -> dict[str, Any]:
    """The set secret keys (SecretStr) of a model, as a nested dict of plain text."""
    tree: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            inner = _secrets(value)
            if inner:
                tree[name] = inner
        elif isinstance(value, SecretStr):
            tree[name] = value.get_secret_value()
    return tree


def _without_secrets(data: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every key in ``secrets`` unset (None) instead of masked."""
    cleaned = dict(data)
    for key, value in secrets.items():
        if isinstance(value, dict):
            cleaned[key] = _without_secrets(cleaned[key], value)
        else:
            cleaned[key] = None
    return cleaned


def dump_with_secrets(config: Config) -> dict[str, Any]:
    """The config as JSON-ready data, secrets in plain text: only for files a
    child process reads, which must then be written 0600."""
    return merge(config.model_dump(mode="json"), _secrets(config))


def save_running_config(config: Config, run_dir: Path) -> None:
    """Keep the config a pipeline was started with, for commands given only
    ``--workspace`` (lag, loadgen, verify) to reach the same services."""
    from metricpipe.broker.tls import write_private

    secrets = _secrets(config)
    data = _without_secrets(config.model_dump(mode="json"), secrets)
    write_private(run_dir / RUNNING_CONFIG, json.dumps(data, indent=2))
    secrets_file = run_dir / RUNNING_SECRETS
    if secrets:
        write_private(secrets_file, json.dumps(secrets))
    else:
        secrets_file.unlink(missing_ok=True)


def load_running_config(workspace: Any) -> Config | None:
    """The config of the pipeline running in ``workspace``, if one runs there."""
    from metricpipe.supervisor.state import PipelineState, process_alive

    state = PipelineState.read(workspace.state_file)
    path = workspace.run / RUNNING_CONFIG
    if state is None or not process_alive(state.supervisor_pid) or not path.exists():
        return None
    data = json.loads(path.read_text())
    secrets_file = workspace.run / RUNNING_SECRETS
    if secrets_file.exists():
        data = merge(data, json.loads(secrets_file.read_text()))
    return Config.model_validate(data)
