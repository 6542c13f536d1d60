"""Fixtures shared by every stage's tests."""

from collections.abc import Iterator

import pytest

from metricpipe.testing import TestPipeline, running_pipeline


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="Also run the long soak tests.",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak test: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def kafka_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPipeline]:
    """A real Kafka broker on free ports, shared by the whole test session."""
    with running_pipeline(tmp_path_factory.mktemp("kafka"), ["kafka"]) as pipeline:
        yield pipeline
