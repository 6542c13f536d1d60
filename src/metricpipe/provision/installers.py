"""Fetch, build and check components, each from its own registry.

Each installer puts its result under ``<cache>/<name>/<version>/`` and writes a
``.complete`` marker last, so an interrupted install is simply redone. The output
of every registry client goes to ``install.log`` beside it; on failure the error
names the component, the coordinate and the last lines of that log.
"""

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from metricpipe.errors import MissingToolError, ProvisionError
from metricpipe.paths import cache_dir
from metricpipe.provision.components import Component

log = logging.getLogger(__name__)

TOOL_FIX = {
    "java": "install a JDK 17 or newer (apt-get install openjdk-17-jre-headless)",
    "mvn": "install Apache Maven (apt-get install maven)",
    "go": "install Go 1.25 or newer (apt-get install golang, or from go.dev)",
    "apt-get": "this component needs a Debian-based system with apt-get",
    "npm": "install Node.js and npm (apt-get install nodejs npm)",
}

REFUSAL_MARKERS = (
    "403 Forbidden",
    "404 Not Found",
    "not available",
    "Could not find artifact",
    "Could not resolve",
    "Unable to locate package",
    "has no installation candidate",
    "Version '",
)


@dataclass(frozen=True)
class Status:
    name: str
    version: str
    source: str
    coordinate: str
    path: str
    installed: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "coordinate": self.coordinate,
            "path": self.path,
            "installed": self.installed,
        }


def component_dir(component: Component, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / component.name / component.version


def artifact_path(component: Component, cache: Path | None = None) -> Path:
    """Where the usable result lives: a jar folder, a binary or a package dir."""
    base = component_dir(component, cache)
    if component.source == "maven":
        return base / "libs"
    if component.source == "maven-build":
        # A Kafka Connect plugin.path: one folder per plugin, holding its jars.
        return base / "plugins"
    if component.source == "go":
        return base / "bin" / component.name
    if component.source == "apt":
        found = shutil.which(component.executable or component.name)
        return Path(found) if found else Path("/usr/bin") / component.executable
    if component.source == "npm":
        return base / "node_modules" / component.coordinates[0]
    if component.source == "pypi":
        try:
            dist = importlib.metadata.distribution(component.name)
        except importlib.metadata.PackageNotFoundError:
            return Path()
        return Path(str(dist.locate_file(component.name)))
    return base


def is_installed(component: Component, cache: Path | None = None) -> bool:
    if component.source == "pypi":
        try:
            return importlib.metadata.version(component.name) == component.version
        except importlib.metadata.PackageNotFoundError:
            return False
    if component.source == "apt":
        return _apt_installed_version(component.coordinates[0]) == component.version
    if component.source == "maven-build":
        # Built from this repo: rebuilt whenever its sources change.
        marker = component_dir(component, cache) / ".complete"
        return marker.exists() and marker.read_text().split()[-1] == _source_hash(
            component
        )
    # The marker holds the coordinates installed: changed coordinates reinstall.
    marker = component_dir(component, cache) / ".complete"
    return marker.exists() and marker.read_text().strip() == component.coordinate


def status(component: Component, cache: Path | None = None) -> Status:
    return Status(
        name=component.name,
        version=component.version,
        source=component.source,
        coordinate=component.coordinate,
        path=str(artifact_path(component, cache)),
        installed=is_installed(component, cache),
    )


def _require_tools(component: Component) -> None:
    for tool in component.needs:
        if shutil.which(tool) is None:
            raise MissingToolError(
                component.name,
                component.coordinate,
                f"the tool {tool!r} is not on PATH",
                TOOL_FIX.get(tool, f"install {tool}"),
            )


def _tail(path: Path, lines: int = 12) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _run(
    component: Component,
    argv: list[str],
    log_file: Path,
    cwd: Path,
    env: dict[str, str],
) -> None:
    """Run one registry client, appending its output to the install log."""
    log.info("Running %s for %s", argv[0], component.name)
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        result = subprocess.run(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode == 0:
        return

    tail = _tail(log_file)
    refused = [
        line for line in tail.splitlines() if any(m in line for m in REFUSAL_MARKERS)
    ]
    reason = (
        "the registry refused it: " + refused[0].strip()
        if refused
        else f"{argv[0]} exited with code {result.returncode}"
    )
    raise ProvisionError(
        component.name,
        component.coordinate,
        reason,
        f"Full output: {log_file}. Last lines:\n{tail}\nCheck the pinned version in "
        "src/metricpipe/provision/components.py and that the registry is reachable.",
    )


def _pom(component: Component) -> str:
    deps = []
    for gav in component.coordinates:
        group, artifact, version = gav.split(":")
        deps.append(
            "    <dependency>"
            f"<groupId>{escape(group)}</groupId>"
            f"<artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>metricpipe.components</groupId>\n"
        f"  <artifactId>{escape(component.name)}</artifactId>\n"
        f"  <version>{escape(component.version)}</version>\n"
        "  <packaging>pom</packaging>\n"
        "  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</project>\n"
    )


def _install_maven(component: Component, base: Path, log_file: Path) -> None:
    (base / "pom.xml").write_text(_pom(component))
    libs = base / "libs"
    shutil.rmtree(libs, ignore_errors=True)
    repo = cache_dir() / "m2"
    _run(
        component,
        [
            "mvn",
            "-B",
            "-ntp",
            f"-Dmaven.repo.local={repo}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
            # Dependencies a library marks 'provided' (Spark itself, for the Kafka
            # connector) come from the runtime that loads it, not from us.
            "-DincludeScope=runtime",
        ],
        log_file,
        base,
        dict(os.environ),
    )


def go_env() -> dict[str, str]:
    gocache = cache_dir() / "go"
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(gocache / "mod"),
        GOCACHE=str(gocache / "build"),
        GOFLAGS="-modcacherw -buildvcs=false",
        CGO_ENABLED="0",
    )
    return env


def _install_go(component: Component, base: Path, log_file: Path) -> None:
    env = go_env()
    module = f"{component.coordinates[0]}@v{component.version}"
    download = subprocess.run(
        ["go", "mod", "download", "-json", module],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    log_file.open("a").write(download.stdout + download.stderr)
    if download.returncode != 0:
        _run(component, ["go", "mod", "download", module], log_file, base, env)
    module_dir = Path(json.loads(download.stdout)["Dir"])

    # Build from a private copy: the module cache is shared and read-only by design.
    src = base / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(module_dir, src)
    for path in [src, *src.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)

    (base / "bin").mkdir(exist_ok=True)
    argv = ["go", "build", "-trimpath"]
    if component.go_tags:
        argv += ["-tags", ",".join(component.go_tags)]
    if component.go_ldflags:
        argv += ["-ldflags", component.go_ldflags]
    argv += ["-o", str(base / "bin" / component.name), component.go_package]
    _run(component, argv, log_file, src, env)
    shutil.rmtree(src, ignore_errors=True)


def _apt_installed_version(package: str) -> str:
    if shutil.which("dpkg-query") is None:
        return ""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}|${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status_text, _, version = result.stdout.partition("|")
    return version if result.returncode == 0 and "installed" in status_text else ""


def _install_apt(component: Component, base: Path, log_file: Path) -> None:
    if os.geteuid() != 0:
        raise ProvisionError(
            component.name,
            component.coordinate,
            "installing a Debian package needs root",
            f"run: sudo apt-get install {component.coordinate}",
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(component, ["apt-get", "update", "-q"], log_file, base, env)

    # metricpipe runs the program itself; a package's maintainer script must not
    # start the system service (InfluxDB's would listen on every interface). The
    # policy-rc.d convention makes invoke-rc.d refuse to start anything.
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\n# metricpipe: no service starts\nexit 101\n")
        policy.chmod(0o755)
    try:
        _run(
            component,
            [
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                component.coordinate,
            ],
            log_file,
            base,
            env,
        )
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)


def _module_dir(component: Component) -> Path:
    return Path(__file__).resolve().parent.parent / component.build_dir


def _source_hash(component: Component) -> str:
    digest = hashlib.sha256()
    module = _module_dir(component)
    files = [module / "pom.xml", *sorted((module / "src").rglob("*"))]
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(module)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _install_maven_build(component: Component, base: Path, log_file: Path) -> None:
    """Build a Maven module of this repo (running its unit tests) into the cache."""
    module = _module_dir(component)
    if not (module / "pom.xml").exists():
        raise ProvisionError(
            component.name,
            component.coordinate,
            f"its Maven module {module} has no pom.xml",
            "reinstall metricpipe from a complete checkout",
        )

    # Build in a copy so that the source tree never holds a target/ folder.
    work = base / "build"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(module, work, ignore=shutil.ignore_patterns("target"))
    plugin = base / "plugins" / component.name
    shutil.rmtree(plugin, ignore_errors=True)
    repo = cache_dir() / "m2"
    mvn = ["mvn", "-B", "-ntp", f"-Dmaven.repo.local={repo}"]
    _run(component, [*mvn, "package"], log_file, work, dict(os.environ))
    _run(
        component,
        [
            *mvn,
            "dependency:copy-dependencies",
            f"-DoutputDirectory={plugin}",
            # connect-api is 'provided': the worker brings it.
            "-DincludeScope=runtime",
        ],
        log_file,
        work,
        dict(os.environ),
    )
    for jar in (work / "target").glob("*.jar"):
        shutil.copy2(jar, plugin / jar.name)
    shutil.rmtree(work, ignore_errors=True)
    (base / ".complete").write_text(
        f"{component.coordinate} {_source_hash(component)}\n"
    )


def _install_pypi(component: Component, base: Path, log_file: Path) -> None:
    raise ProvisionError(
        component.name,
        component.coordinate,
        "it is a Python dependency of metricpipe and is not installed in this venv",
        "run `make setup`, which installs the package with its pinned dependencies",
    )


def _install_npm(component: Component, base: Path, log_file: Path) -> None:
    # npm's own cache goes beside the others, not into the user's home.
    _run(
        component,
        [
            "npm",
            "install",
            "--prefix",
            str(base),
            "--cache",
            str(cache_dir() / "npm"),
            "--no-audit",
            "--no-fund",
            "--no-save",
            component.coordinate,
        ],
        log_file,
        base,
        dict(os.environ),
    )


INSTALLERS: dict[str, Callable[[Component, Path, Path], None]] = {
    "maven": _install_maven,
    "go": _install_go,
    "apt": _install_apt,
    "pypi": _install_pypi,
    "npm": _install_npm,
    "maven-build": _install_maven_build,
}


def install(
    component: Component, cache: Path | None = None, force: bool = False
) -> Path:
    """Install one component unless it already is; return its artifact path."""
    if is_installed(component, cache) and not force:
        return artifact_path(component, cache)

    tools = component.needs + (("apt-get",) if component.source == "apt" else ())
    _require_tools(Component(**{**component.__dict__, "needs": tools}))

    base = component_dir(component, cache)
    base.mkdir(parents=True, exist_ok=True)
    marker = base / ".complete"
    marker.unlink(missing_ok=True)
    log_file = base / "install.log"
    log_file.write_text("")

    INSTALLERS[component.source](component, base, log_file)

    if component.source not in ("apt", "pypi", "maven-build"):
        marker.write_text(component.coordinate + "\n")
    log.info("Installed %s %s", component.name, component.version)
    return artifact_path(component, cache)
