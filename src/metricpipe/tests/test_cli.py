"""The command line as a user meets it: exit codes and the lines printed."""

from pathlib import Path

import pytest

from metricpipe.testing import cli

pytestmark = pytest.mark.fast


def test_help_lists_every_command() -> None:
    result = cli("--help")

    assert result.returncode == 0
    for command in ("setup", "up", "down", "status", "logs", "config"):
        assert command in result.stdout


def test_status_without_pipeline(tmp_path: Path) -> None:
    result = cli("status", "--workspace", str(tmp_path))

    assert result.returncode == 6
    assert f"No pipeline is running in {tmp_path}" in result.stderr.replace("\n", "")


def test_status_json_without_pipeline(tmp_path: Path) -> None:
    result = cli("status", "--json", "--workspace", str(tmp_path))

    assert result.returncode == 6
    assert '"running": false' in result.stdout


def test_logs_of_unknown_service(tmp_path: Path) -> None:
    result = cli("logs", "kafak", "--workspace", str(tmp_path))

    assert result.returncode == 2
    assert "'kafak' is not a service" in result.stderr


def test_logs_of_service_never_run(tmp_path: Path) -> None:
    result = cli("logs", "kafka", "--workspace", str(tmp_path))

    assert result.returncode == 6
    assert "no log for 'kafka'" in result.stderr


def test_down_with_nothing_running(tmp_path: Path) -> None:
    result = cli("down", "--workspace", str(tmp_path))

    assert result.returncode == 0
    assert "Nothing was running." in result.stderr


def test_purge_refuses_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")

    result = cli("down", "--purge", "--workspace", str(tmp_path))

    assert result.returncode == 5
    assert "refusing to delete" in result.stderr
    assert (tmp_path / "thesis.tex").exists()


def test_config_check_reports_key_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[collect]\ninterval_s = 0\n")

    result = cli("config", "check", "--config", str(path))

    assert result.returncode == 2
    assert "collect.interval_s" in result.stderr
    assert "greater than 0" in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = cli("config", "check", "--config", str(tmp_path / "nope.toml"))

    assert result.returncode == 2
    assert "does not exist" in result.stderr
