"""The config file: defaults, errors that name the key, env overrides, docs."""

from pathlib import Path

import pytest

from metricpipe.config import load_config, reference_markdown, sample_toml
from metricpipe.errors import ConfigError, ConfigErrors
from metricpipe.testing import cli

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "metricpipe.toml"
    path.write_text(text)
    return path


def test_defaults_are_valid_and_loopback(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})

    assert config.kafka.host == "127.0.0.1"
    assert config.kafka.bootstrap == "127.0.0.1:9092"
    assert config.dashboard.host == "127.0.0.1"
    assert [t.name for t in config.kafka.topics.all()] == [
        "metrics.raw",
        "metrics.rollup",
        "metrics.alerts",
        "metrics.dlq",
        "metrics.sink.dlq",
        "metrics.pipeline",
    ]


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka]\nprot = 1234\n")

    with pytest.raises(ConfigErrors) as caught:
        load_config(path, environ={})

    (error,) = caught.value.errors
    assert error.key == "kafka.prot"
    assert error.value == 1234
    assert "unknown key" in str(error)


def test_bad_value_names_key_value_and_allowed(tmp_path: Path) -> None:
    path = write(
        tmp_path, "[kafka]\nport = 70000\n[supervisor]\nservices = ['kafak']\n"
    )

    with pytest.raises(ConfigErrors) as caught:
        load_config(path, environ={})

    by_key = {e.key: e for e in caught.value.errors}
    assert set(by_key) == {"kafka.port", "supervisor.services"}
    assert by_key["kafka.port"].value == 70000
    assert "less than or equal to 65535" in by_key["kafka.port"].allowed
    assert "kafak" in str(by_key["supervisor.services"])
    assert "allowed: kafka" in str(by_key["supervisor.services"])


def test_nested_topic_values_are_checked(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka.topics.raw]\nmax_message_bytes = 10\n")

    with pytest.raises(ConfigErrors) as caught:
        load_config(path, environ={})

    assert caught.value.errors[0].key == "kafka.topics.raw.max_message_bytes"


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka]\nport = 19092\n")

    config = load_config(path, environ={"METRICPIPE_KAFKA__PORT": "29092"})

    assert config.kafka.port == 29092


def test_environment_with_unknown_section_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, ""), environ={"METRICPIPE_KAFAK__PORT": "1"})

    assert caught.value.key == "METRICPIPE_KAFAK__PORT"


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[kafka\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert str(path) in str(caught.value)
    assert "not valid TOML" in str(caught.value)


def test_sample_uncommented_is_the_defaults(tmp_path: Path) -> None:
    """Every line of the sample, uncommented, parses and equals the defaults."""
    lines = []
    for line in sample_toml().splitlines():
        is_key = line.startswith("# ") and " = " in line
        if is_key and not line.startswith("# METRIC") and "<unset>" not in line:
            lines.append(line[2:])
        elif line.startswith("["):
            lines.append(line)
    uncommented = write(tmp_path, "\n".join(lines) + "\n")

    assert load_config(uncommented, environ={}) == load_config(None, environ={})


def test_committed_docs_match_the_schema() -> None:
    assert (REPO / "metricpipe.sample.toml").read_text() == sample_toml(), (
        "metricpipe.sample.toml is stale: run "
        "`metricpipe config sample > metricpipe.sample.toml`"
    )
    assert reference_markdown() in (REPO / "docs" / "config.md").read_text(), (
        "docs/config.md is stale: run `make docs`"
    )


def test_cli_rejects_bad_config_before_starting(tmp_path: Path) -> None:
    path = write(tmp_path, "[supervisor]\nready_timeout_s = -1\n")

    result = cli("up", "--config", str(path), "--workspace", str(tmp_path / "ws"))

    assert result.returncode == 2
    assert "supervisor.ready_timeout_s" in result.stderr
    assert "-1" in result.stderr
    assert not (tmp_path / "ws").exists(), "nothing may start on a bad config"


def test_list_keys_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "")

    words = load_config(
        path, environ={"METRICPIPE_SUPERVISOR__SERVICES": "kafka, telegraf"}
    )
    as_json = load_config(
        path, environ={"METRICPIPE_SUPERVISOR__SERVICES": '["kafka"]'}
    )

    assert words.supervisor.services == ["kafka", "telegraf"]
    assert as_json.supervisor.services == ["kafka"]


def test_config_check_finds_what_up_would_refuse(tmp_path: Path) -> None:
    """Beyond the schema: port clashes, thresholds in the wrong order, a secured
    broker without a password, a service this version cannot run."""
    cases = {
        "[kafka]\nport = 8050\n": "'dashboard.port' has value 8050: is also kafka.port",
        "[lag]\nwarn_lag_s = 100\nerror_lag_s = 10\n": "must be above lag.warn_lag_s",
        '[kafka]\nsecurity_protocol = "sasl_ssl"\n': "needs a password",
        '[supervisor]\nservices = ["kafka", "burrow"]\n': "'burrow': this service",
    }
    env = {"METRICPIPE_KAFKA__SASL_PASSWORD": ""}
    for text, expected in cases.items():
        path = write(tmp_path, text)
        result = cli("config", "check", "--config", str(path), env=env)

        assert result.returncode == 2, (text, result.stdout, result.stderr)
        assert expected in " ".join(result.stderr.split()), (text, result.stderr)

    assert cli("config", "check", "--config", str(write(tmp_path, ""))).returncode == 0
