"""Apache Kafka in KRaft mode: one broker+controller on 127.0.0.1 for tests and local runs.

Why Maven: these machines reach Maven Central but no download site, and the broker is just
the ``kafka_2.13`` and ``kafka-tools`` jars plus their dependencies, so Maven fetches them
once into a cache outside the work tree (a marker file says the cache is complete).

Why the logging pins: kafka-clients brings ``slf4j-api`` 1.7.x, and an slf4j binding for
the other major version (``log4j-slf4j2-impl`` is for slf4j 2) is silently ignored, which
leaves the broker logging to nowhere ("SLF4J: Defaulting to no-operation"). So the pom
names ``slf4j-api`` itself (nearest wins in Maven, so its version is the one on the
classpath) together with the binding for that major version, and the download is checked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from app.errors import InfrastructureError
from app.local.model import ServerStatus
from app.local.process import (
    Progress,
    Stopwatch,
    failure,
    pid_alive,
    pid_cmdline,
    port_open,
    read_pid,
    run_logged,
    spawn_detached,
    terminate,
    ticking,
)
from app.settings import Settings

__all__ = [
    "LOG4J_VERSION",
    "MAVEN_TIMEOUT_S",
    "SLF4J_API_VERSION",
    "KafkaPaths",
    "check_logging_jars",
    "ensure_jars",
    "ensure_up",
    "pom_xml",
    "probe",
    "server_properties",
    "status",
    "stop",
    "wait_ready",
]

HOST = "127.0.0.1"
#: What kafka-clients 4.x declares; pinned so the binding below matches it.
SLF4J_API_VERSION = "1.7.36"
#: The log4j2 release Kafka 4.1 ships with; ``log4j-slf4j-impl`` binds slf4j 1.x to it.
LOG4J_VERSION = "2.24.3"
MAVEN_TIMEOUT_S = 900.0
FORMAT_TIMEOUT_S = 120.0
STOP_GRACE_S = 30.0
PROBE_TIMEOUT_S = 5.0
_MARKER = ".complete"


@dataclass(frozen=True, slots=True)
class KafkaPaths:
    """Where the broker's files live: runtime state under local.dir, jars in the cache."""

    home: Path
    jars: Path

    @classmethod
    def of(cls, settings: Settings) -> KafkaPaths:
        loc = settings.local
        return cls(home=loc.dir / "kafka", jars=loc.cache_dir / f"kafka-{loc.kafka_version}")

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.home / "log4j2.properties"

    @property
    def log(self) -> Path:
        return self.home / "kafka.log"

    @property
    def pid(self) -> Path:
        return self.home / "kafka.pid"


# --------------------------------------------------------------------------- files


def pom_xml(version: str) -> str:
    """A pom whose runtime dependencies are exactly a working broker's classpath."""
    deps = [
        ("org.apache.kafka", "kafka_2.13", version),
        ("org.apache.kafka", "kafka-tools", version),
        ("org.slf4j", "slf4j-api", SLF4J_API_VERSION),
        ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
        ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
    ]
    body = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>alertpipe.local</groupId>\n"
        "  <artifactId>kafka-runtime</artifactId>\n"
        f"  <version>{version}</version>\n"
        "  <packaging>pom</packaging>\n"
        f"  <dependencies>\n{body}\n  </dependencies>\n"
        "</project>\n"
    )


def server_properties(settings: Settings, data_dir: Path) -> str:
    """A single dev node: broker and controller in one JVM, every replication factor 1."""
    loc = settings.local
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{loc.kafka_controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{loc.kafka_port},CONTROLLER://{HOST}:{loc.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{loc.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    lines = [f"{key}={value}" for key, value in props.items()]
    return "# Written by `alertpipe local up` at each start; edits are overwritten.\n" + (
        "\n".join(lines) + "\n"
    )


# WARN to the broker's stdout (kafka.log), plus the one INFO line saying it started/stopped.
LOG4J2_PROPERTIES = """\
# Written by `alertpipe local up`. The broker's stdout goes to kafka.log beside this file.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = STDOUT
logger.lifecycle.name = kafka.server.KafkaRaftServer
logger.lifecycle.level = INFO
"""


def _write_configs(settings: Settings, paths: KafkaPaths) -> None:
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(server_properties(settings, paths.data), encoding="utf-8")
    paths.log4j.write_text(LOG4J2_PROPERTIES, encoding="utf-8")


# --------------------------------------------------------------------------- jars


def _cache_complete(jars: Path) -> bool:
    try:
        names = (jars / _MARKER).read_text(encoding="utf-8").split()
    except OSError:
        return False
    return bool(names) and all((jars / name).is_file() for name in names)


def check_logging_jars(jars: Path) -> None:
    """Fail unless exactly one slf4j-api is present with the log4j binding for its major."""
    apis = sorted(p.name for p in jars.glob("slf4j-api-*.jar"))
    if len(apis) != 1:
        raise InfrastructureError(f"kafka: expected one slf4j-api jar in {jars}, found {apis}")
    match = re.match(r"slf4j-api-(\d+)\.", apis[0])
    major = match.group(1) if match else "?"
    binding = {"1": "log4j-slf4j-impl-", "2": "log4j-slf4j2-impl-"}.get(major)
    found = sorted(p.name for p in jars.glob("log4j-slf4j*-impl-*.jar"))
    if (
        binding is None
        or [name for name in found if name.startswith(binding)] != found
        or not found
    ):
        raise InfrastructureError(
            f"kafka: {apis[0]} needs the binding {binding or '?'}*.jar, found {found} in {jars}; "
            "the broker would log nothing"
        )


async def ensure_jars(settings: Settings, progress: Progress) -> Path:
    """The folder of broker jars, fetched with Maven on the first run only."""
    paths = KafkaPaths.of(settings)
    version = settings.local.kafka_version
    if _cache_complete(paths.jars):
        return paths.jars
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfrastructureError(
            "kafka: `mvn` is not on PATH; it fetches the Kafka jars from Maven Central. "
            "Install Maven (Debian: apt-get install -y maven)"
        )
    staging = paths.jars.with_name(f".{paths.jars.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "pom.xml").write_text(pom_xml(version), encoding="utf-8")
    progress(f"kafka: fetching Apache Kafka {version} jars with Maven (first run only)…")
    watch = Stopwatch()
    await run_logged(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(staging / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        what=f"kafka: fetching Apache Kafka {version} with Maven",
        log=staging / "maven.log",
        limit_s=MAVEN_TIMEOUT_S,
        progress=progress,
        heartbeat="kafka: … still downloading",
        heartbeat_s=settings.local.heartbeat_s,
        cwd=staging,
    )
    check_logging_jars(staging)
    count = _publish(staging, paths.jars)
    progress(f"kafka: fetched {count} jars into {paths.jars} ({watch})")
    return paths.jars


def _publish(staging: Path, jars: Path) -> int:
    """Mark the staging folder complete and move it into place (atomic rename)."""
    names = sorted(p.name for p in staging.glob("*.jar"))
    (staging / _MARKER).write_text("\n".join(names) + "\n", encoding="utf-8")
    if _cache_complete(jars):  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    else:
        shutil.rmtree(jars, ignore_errors=True)
        staging.rename(jars)
    return len(names)


# --------------------------------------------------------------------------- process


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home, "bin", "java") if home else None
    if candidate is not None and candidate.is_file():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise InfrastructureError(
            "kafka: no `java` found (JAVA_HOME or PATH); Kafka needs a JDK 17+ "
            "(Debian: apt-get install -y openjdk-17-jre-headless)"
        )
    return found


def _jvm(java: str, paths: KafkaPaths, *args: str, heap: str | None = None) -> list[str]:
    memory = [f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"] if heap else []
    return [
        java,
        *memory,
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={paths.log4j}",
        "-cp",
        f"{paths.jars}/*",
        *args,
    ]


def _cluster_id() -> str:
    """A Kafka Uuid string (base64url, no padding), not starting with '-' as Kafka's do."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


async def _format_once(java: str, paths: KafkaPaths, progress: Progress) -> None:
    if (paths.data / "meta.properties").is_file():
        return
    progress(f"kafka: formatting storage in {paths.data}…")
    watch = Stopwatch()
    # A static quorum (controller.quorum.voters) must not be formatted with --standalone.
    command = _jvm(
        java,
        paths,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        _cluster_id(),
        "-c",
        str(paths.config),
        "--ignore-formatted",
    )
    await run_logged(
        command,
        what="kafka: formatting the storage",
        log=paths.log,
        limit_s=FORMAT_TIMEOUT_S,
    )
    progress(f"kafka: storage formatted ({watch})")


def running_pid(paths: KafkaPaths) -> int | None:
    """The pid of the broker `up` started from these paths, if it still runs."""
    pid = read_pid(paths.pid)
    if pid is None or not pid_alive(pid):
        return None
    command = pid_cmdline(pid)
    if command and ("kafka.Kafka" not in command or str(paths.config) not in command):
        return None  # the pid was reused by something else
    return pid


def _rotate_log(paths: KafkaPaths) -> None:
    if paths.log.exists():
        paths.log.replace(paths.log.with_suffix(".log.1"))


# --------------------------------------------------------------------------- probing


async def probe(bootstrap: str, limit_s: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Whether `bootstrap` answers a metadata request; a short detail either way."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="alertpipe-local-probe",
        request_timeout_ms=max(int(limit_s * 1000), 1000),
    )
    try:
        await asyncio.wait_for(admin.start(), limit_s)
        topics = await asyncio.wait_for(admin.list_topics(), limit_s)
    except Exception as error:
        return False, f"{type(error).__name__}: {error}".rstrip(": ")
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return True, f"answers a metadata request ({len(topics)} topics)"


async def _probe_local(settings: Settings) -> tuple[bool, str]:
    if not await port_open(HOST, settings.local.kafka_port):
        return False, f"nothing listens on {settings.bootstrap}"
    return await probe(settings.bootstrap)


async def wait_ready(
    settings: Settings, paths: KafkaPaths, pid: int, deadline: float, progress: Progress
) -> None:
    """Return once the broker `pid` answers; say every ``local.heartbeat_s`` that it is
    still starting (a cold JVM on a busy machine takes a while, silence looks like a hang).
    Raises (quoting its log) when it exits or does not answer by `deadline`."""
    async with ticking(progress, "kafka: … still starting", settings.local.heartbeat_s):
        await _poll_ready(settings, paths, pid, deadline)


async def _poll_ready(settings: Settings, paths: KafkaPaths, pid: int, deadline: float) -> None:
    detail = "no answer yet"
    while True:
        if not pid_alive(pid):
            raise failure(f"kafka: the broker (pid {pid}) exited during startup", paths.log)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise failure(
                f"kafka: the broker (pid {pid}) did not answer on {settings.bootstrap} within "
                f"{settings.local.startup_timeout_s:g} s ({detail}); "
                "`alertpipe local down` stops it",
                paths.log,
            )
        if await port_open(HOST, settings.local.kafka_port):
            ok, detail = await probe(settings.bootstrap, min(PROBE_TIMEOUT_S, remaining))
            if ok:
                return
        await asyncio.sleep(0.25)


async def _wait_external(settings: Settings, progress: Progress) -> None:
    progress(f"kafka: ALERTPIPE_KAFKA_BOOTSTRAP is set; checking {settings.bootstrap}…")
    deadline = time.monotonic() + settings.local.startup_timeout_s
    while True:
        ok, detail = await probe(settings.bootstrap)
        if ok:
            progress(f"kafka: {settings.bootstrap} answers (external, not managed here)")
            return
        if time.monotonic() >= deadline:
            raise InfrastructureError(
                f"kafka: {settings.bootstrap} (ALERTPIPE_KAFKA_BOOTSTRAP) does not answer: {detail}"
            )
        await asyncio.sleep(1.0)


# --------------------------------------------------------------------------- commands


async def ensure_up(settings: Settings, progress: Progress) -> None:
    """Start the local broker unless it (or an external one) already answers."""
    if not settings.uses_local_kafka:
        await _wait_external(settings, progress)
        return
    paths = KafkaPaths.of(settings)
    pid = running_pid(paths)
    if await _reuse(settings, pid, progress):
        return
    await ensure_jars(settings, progress)
    java = _java()
    if pid is None:
        _rotate_log(paths)
    _write_configs(settings, paths)
    await _format_once(java, paths, progress)
    watch = Stopwatch()
    deadline = time.monotonic() + settings.local.startup_timeout_s
    if pid is None:
        pid = await _start_broker(settings, paths, java, progress)
    else:
        progress(f"kafka: the broker (pid {pid}) runs but does not answer yet; waiting…")
    await wait_ready(settings, paths, pid, deadline, progress)
    progress(f"kafka: ready on {settings.bootstrap} ({watch})")


async def _start_broker(
    settings: Settings, paths: KafkaPaths, java: str, progress: Progress
) -> int:
    """Spawn the broker detached (it outlives the CLI) and record its pid."""
    await _refuse_busy_ports(settings)
    progress(f"kafka: starting the broker on {settings.bootstrap} (log: {paths.log})…")
    command = _jvm(java, paths, "kafka.Kafka", str(paths.config), heap=settings.local.kafka_heap)
    pid = spawn_detached(command, log=paths.log, cwd=paths.home)
    paths.pid.write_text(f"{pid}\n", encoding="ascii")
    return pid


async def _reuse(settings: Settings, pid: int | None, progress: Progress) -> bool:
    """True when the port already answers as Kafka (ours or not): nothing to start."""
    if not await port_open(HOST, settings.local.kafka_port):
        return False
    ok, detail = await probe(settings.bootstrap)
    if ok:
        owner = f"pid {pid}" if pid is not None else "not started by alertpipe; reusing it"
        progress(f"kafka: already running on {settings.bootstrap} ({owner})")
        return True
    if pid is None:
        raise InfrastructureError(
            f"kafka: something else listens on {settings.bootstrap} and does not answer as "
            f"Kafka ({detail}); stop it or choose another port (ALERTPIPE_LOCAL__KAFKA_PORT)"
        )
    return False


async def _refuse_busy_ports(settings: Settings) -> None:
    loc = settings.local
    for port, name in (
        (loc.kafka_port, "KAFKA_PORT"),
        (loc.kafka_controller_port, "KAFKA_CONTROLLER_PORT"),
    ):
        if await port_open(HOST, port):
            raise InfrastructureError(
                f"kafka: port {HOST}:{port} is taken by another program; stop it or choose "
                f"another port (ALERTPIPE_LOCAL__{name})"
            )


async def status(settings: Settings) -> ServerStatus:
    if not settings.uses_local_kafka:
        ok, detail = await probe(settings.bootstrap)
        return ServerStatus("kafka", settings.bootstrap, False, None, ok, f"external: {detail}")
    paths = KafkaPaths.of(settings)
    pid = running_pid(paths)
    ok, detail = await _probe_local(settings)
    if pid is None and ok:
        detail += "; not started by alertpipe"
    elif pid is not None:
        detail += f"; log: {paths.log}"
    return ServerStatus("kafka", settings.bootstrap, True, pid, ok, detail)


async def stop(settings: Settings, progress: Progress, purge: bool) -> None:
    """Stop the broker `up` started (SIGTERM, SIGKILL after a grace period)."""
    paths = KafkaPaths.of(settings)
    pid = running_pid(paths)
    if pid is None:
        progress("kafka: not running (nothing started by alertpipe)")
    else:
        progress(f"kafka: stopping the broker (pid {pid})…")
        watch = Stopwatch()
        killed = await terminate(pid, STOP_GRACE_S)
        how = f"; killed with SIGKILL after {STOP_GRACE_S:.0f} s" if killed else ""
        progress(f"kafka: stopped ({watch}){how}")
    paths.pid.unlink(missing_ok=True)
    if purge:
        shutil.rmtree(paths.home, ignore_errors=True)
        progress(f"kafka: removed {paths.home}")
    elif paths.data.exists():
        progress(f"kafka: data kept in {paths.data} (`alertpipe local down --purge` removes it)")
