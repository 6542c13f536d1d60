"""kafka.security_protocol = "sasl_ssl": the whole default stack over SCRAM/TLS.

One setting secures every Kafka client: the local broker gets a generated CA and
certificate and a SCRAM credential, Telegraf, Spark, Connect, the dashboard and the
CLI log in with it, and `metricpipe verify` follows a canary from the raw topic
through the rollup to both stores. Then: a wrong password and plaintext are
refused, and the password is in no log, no command output and no file others can
read.
"""

import json
import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from metricpipe.supervisor.config import DEFAULT_SERVICES
from metricpipe.testing import (
    TestPipeline,
    cli,
    non_loopback_listeners,
    running_pipeline,
)

pytestmark = pytest.mark.integration

#: The distinctive part every file and output is searched for.
MARK = "s3cret-Pa55word-metricpipe"
#: A backslash and a quote: JAAS, .properties and Telegraf's config must escape them.
PASSWORD = MARK + '\\"x'


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPipeline]:
    root = tmp_path_factory.mktemp("sasl")
    password_file = root / "kafka-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    overrides = {
        "kafka": {
            "security_protocol": "sasl_ssl",
            "sasl_password_file": str(password_file),
        },
        "store": {"opensearch_heap_mb": 512},
    }
    with running_pipeline(root, list(DEFAULT_SERVICES), overrides) as pipeline:
        yield pipeline


def _admin(pipeline: TestPipeline, errors: list[str], **settings: Any) -> AdminClient:
    """An admin client that records what librdkafka reports as connection errors."""
    kafka = pipeline.config.kafka
    return AdminClient(
        {
            "bootstrap.servers": kafka.bootstrap,
            "socket.timeout.ms": "5000",
            "log_level": "0",
            "error_cb": lambda err: errors.append(str(err)),
            **settings,
        }
    )


def _refused(admin: AdminClient, errors: list[str]) -> str:
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)
    admin.poll(1)  # delivers the recorded errors
    return "\n".join(errors)


def test_data_flows_end_to_end_over_sasl_ssl(secured: TestPipeline) -> None:
    status = secured.cli_nocfg("status", "--json")
    shown = json.loads(status.stdout)
    assert all(s["state"] == "ready" for s in shown["services"]), shown
    assert all(c["state"] == "RUNNING" for c in shown["connectors"]), shown

    result = secured.cli_nocfg("verify", "--json", "--timeout-s", "180")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    hops = json.loads(result.stdout)["hops"]
    assert [h["name"] for h in hops] == [
        "metrics.raw",
        "metrics.rollup",
        "search",
        "influxdb",
    ]
    assert all(h["ok"] for h in hops), hops


def test_the_right_password_is_let_in(secured: TestPipeline) -> None:
    ca = secured.workspace.conf / "tls" / "ca.pem"
    admin = _admin(
        secured,
        [],
        **{
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "metricpipe",
            "sasl.password": PASSWORD,
            "ssl.ca.location": str(ca),
        },
    )
    topics = admin.list_topics(timeout=20).topics
    assert secured.config.kafka.topics.raw.name in topics


def test_a_wrong_password_is_refused(secured: TestPipeline) -> None:
    ca = secured.workspace.conf / "tls" / "ca.pem"
    errors: list[str] = []
    admin = _admin(
        secured,
        errors,
        **{
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "metricpipe",
            "sasl.password": PASSWORD + "-wrong",
            "ssl.ca.location": str(ca),
        },
    )
    assert "Authentication failed" in _refused(admin, errors)


def test_plaintext_to_the_sasl_port_is_refused(secured: TestPipeline) -> None:
    # librdkafka logs (not reports) why: the broker hung up on its first request.
    logged: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logger = logging.getLogger("test_security.plaintext")
    logger.addHandler(Recorder())
    logger.setLevel(logging.DEBUG)  # else the root's WARNING drops librdkafka's INFO
    errors: list[str] = []
    admin = _admin(secured, errors, logger=logger, log_level="6")
    _refused(admin, errors)
    assert any(
        "closed by peer" in line and "APIVERSION_QUERY" in line for line in logged
    ), logged


def test_a_certificate_from_another_ca_is_refused(
    secured: TestPipeline, tmp_path: Path
) -> None:
    from metricpipe.broker.tls import generate_local_tls

    other_ca, _, _ = generate_local_tls(tmp_path / "other")
    errors: list[str] = []
    admin = _admin(
        secured,
        errors,
        **{
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "SCRAM-SHA-512",
            "sasl.username": "metricpipe",
            "sasl.password": PASSWORD,
            "ssl.ca.location": str(other_ca),
        },
    )
    assert "certificate verify failed" in _refused(admin, errors)


def test_the_password_is_in_no_output_log_or_shared_file(
    secured: TestPipeline,
) -> None:
    outputs = [
        secured.cli_nocfg("status", "--json"),
        secured.cli_nocfg("status"),
        cli("config", "check", "--config", str(secured.config_file), "--json"),
        secured.cli_nocfg("lag", "--json"),
    ]
    for result in outputs:
        assert result.returncode in (0, 1, 3), result.stderr
        assert MARK not in result.stdout + result.stderr
    # The check really read the secured config (it takes no --workspace: with one
    # it exited 2 on its usage error, which this test used to accept).
    assert outputs[2].returncode == 0, outputs[2].stdout + outputs[2].stderr
    assert "sasl_ssl" in outputs[2].stdout, outputs[2].stdout

    # The lag command above really logged in: it listed the pipeline's groups.
    assert "metricpipe" in outputs[3].stdout, outputs[3].stdout

    # Nor in any command line (ps shows those to every user).
    assert secured.command_lines_holding(MARK) == []

    root = secured.workspace.root
    assert stat.S_IMODE(secured.workspace.conf.stat().st_mode) == 0o700
    holders = []
    for path in secured.files_holding(MARK):
        holders.append(path.relative_to(root))
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        assert "logs" not in path.parts, f"the password is in the log {path}"
    assert "run/config.json" not in {str(p) for p in holders}
    # Those that must hold it (a child process reads them) and nothing else.
    assert {str(p) for p in holders} <= {
        "conf/kafka/server.properties",
        "conf/connect/worker.properties",
        "conf/spark/metricpipe.toml",
        "conf/dashboard/settings.json",
        "conf/telegraf/telegraf.conf",
        "run/secrets.json",
    }, holders
    assert stat.S_IMODE((root / "conf/tls/broker-key.pem").stat().st_mode) == 0o600


def test_every_listener_is_on_loopback(secured: TestPipeline) -> None:
    state = secured.state()
    assert all(s.pid is not None for s in state.services), state
    assert non_loopback_listeners(state) == []
