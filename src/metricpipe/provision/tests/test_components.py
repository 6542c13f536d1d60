"""Component declarations and the provisioning errors a user can meet."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from metricpipe.errors import MissingToolError, ProvisionError
from metricpipe.provision import installers
from metricpipe.provision.components import COMPONENTS, Component, by_name
from metricpipe.testing import cli

pytestmark = pytest.mark.fast


def test_every_component_is_pinned_and_unique() -> None:
    names = [c.name for c in COMPONENTS]
    assert len(names) == len(set(names))

    for component in COMPONENTS:
        assert re.fullmatch(r"[0-9][0-9A-Za-z.~+-]*", component.version), component
        if component.source == "maven":
            for gav in component.coordinates:
                group, artifact, version = gav.split(":")
                assert group and artifact and re.fullmatch(r"[0-9][\w.-]*", version)
        if component.source in ("maven", "pypi"):
            assert component.version in component.coordinates[0]


def test_spark_connector_matches_pyspark() -> None:
    connector = by_name("spark-sql-kafka")
    pyspark = by_name("pyspark")

    assert connector.version == pyspark.version
    assert connector.coordinates[0].endswith(f"_2.13:{pyspark.version}")


def test_generated_pom_lists_each_coordinate() -> None:
    pom = installers._pom(by_name("kafka"))

    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert pom.count("<dependency>") == len(by_name("kafka").coordinates)


def test_missing_tool_names_component_tool_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PATH without mvn: the error must say which component needs which tool.
    monkeypatch.setenv("PATH", str(tmp_path))
    component = Component("demo", "1.0", "maven", ("g:a:1.0",), "demo", needs=("mvn",))

    with pytest.raises(MissingToolError) as caught:
        installers.install(component, cache=tmp_path)

    text = str(caught.value)
    assert "'demo'" in text and "g:a:1.0" in text
    assert "'mvn'" in text and "apt-get install maven" in text


@pytest.mark.skipif(shutil.which("mvn") is None, reason="needs mvn")
def test_registry_refusal_names_the_coordinate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A coordinate that does not exist anywhere: Maven Central answers 'not found'.
    monkeypatch.setenv("METRICPIPE_CACHE", str(tmp_path))
    component = Component(
        "nonexistent",
        "0.0.1",
        "maven",
        ("org.apache.kafka:metricpipe-no-such-artifact:0.0.1",),
        "test",
        needs=("mvn",),
    )

    with pytest.raises(ProvisionError) as caught:
        installers.install(component)

    text = str(caught.value)
    assert "metricpipe-no-such-artifact:0.0.1" in text
    assert "could not be provisioned" in text
    assert (tmp_path / "nonexistent" / "0.0.1" / "install.log").exists()
    assert not installers.is_installed(component)


def test_setup_list_json_has_the_documented_fields(tmp_path: Path) -> None:
    result = cli("setup", "--list", "--json", env={"METRICPIPE_CACHE": str(tmp_path)})

    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [c["name"] for c in listed] == [c.name for c in COMPONENTS]
    for entry in listed:
        assert {"name", "version", "source", "path", "installed"} <= set(entry)
    # An empty cache: nothing fetched from a registry is installed there.
    by = {c["name"]: c for c in listed}
    assert by["kafka"]["installed"] is False
    assert by["kafka"]["path"].startswith(str(tmp_path))


def test_real_cache_has_everything_after_make_setup() -> None:
    """`make test` runs `make setup` first: every component must be in place."""
    if os.environ.get("METRICPIPE_CACHE"):
        pytest.skip("a custom cache is in use")
    missing = [c.name for c in COMPONENTS if not installers.is_installed(c)]
    assert not missing, f"not provisioned: {missing}; run `make setup`"
