"""`app.local` against real servers: Kafka (KRaft) and PostgreSQL on 127.0.0.1.

The shared default servers are only brought up (idempotently) and used, never stopped:
other tests run against them. Stopping, restarting and purging are tested on a private
instance with its own ports and a temporary `local.dir`, which also shows that ports and
folders come from the settings.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.errors import InfrastructureError
from app.local import LocalEndpoints, ServerStatus, down, ensure_up, postgres, process, status
from app.local.kafka import (
    KafkaPaths,
    check_logging_jars,
    pom_xml,
    server_properties,
    wait_ready,
)
from app.local.postgres import PgPaths
from app.local.process import pid_alive, pid_cmdline
from app.settings import LocalSettings, Settings
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def _default_settings() -> Settings:
    # The local servers as configured (ports and folders may come from ALERTPIPE_LOCAL__*).
    return Settings(kafka_bootstrap=None, database_url=None)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _brokers_using(config: Path) -> list[int]:
    """Pids of live JVMs running kafka.Kafka with this server.properties."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            command = pid_cmdline(int(entry.name))
            if "kafka.Kafka" in command and str(config) in command and pid_alive(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def _by_name(servers: list[ServerStatus]) -> dict[str, ServerStatus]:
    return {server.name: server for server in servers}


@pytest.fixture(scope="session")
def settings() -> Settings:
    return _default_settings()


@pytest_asyncio.fixture(scope="session")
async def endpoints(settings: Settings) -> LocalEndpoints:
    return await ensure_up(settings, progress=lambda line: None)


@pytest.fixture()
def private_dir() -> Iterator[Path]:
    # Under /tmp and world-searchable: as root, the PostgreSQL server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="alertpipe-test-local-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _private_settings(
    folder: Path, *, database_url: str | None = None, **overrides: object
) -> Settings:
    kafka_port, controller_port, pg_port = _free_ports(3)
    values: dict[str, object] = {
        "dir": folder,
        "kafka_port": kafka_port,
        "kafka_controller_port": controller_port,
        "postgres_port": pg_port,
        "kafka_heap": "256m",
    }
    local = LocalSettings.model_validate(values | overrides)
    return Settings(kafka_bootstrap=None, database_url=database_url, local=local)


@pytest_asyncio.fixture()
async def private(private_dir: Path) -> AsyncIterator[Settings]:
    settings = _private_settings(private_dir)
    try:
        yield settings
    finally:
        await down(settings, progress=lambda line: None, purge=True)


# --------------------------------------------------------------------------- shared servers


async def test_up_reports_both_servers_answering_with_pids(
    settings: Settings, endpoints: LocalEndpoints
) -> None:
    servers = _by_name(await status(settings))
    assert set(servers) == {"kafka", "postgres"}
    for server in servers.values():
        assert server.managed_locally, server
        assert server.answers, server
        assert server.pid is not None and pid_alive(server.pid), server
    expected = f"127.0.0.1:{settings.local.kafka_port}"
    assert servers["kafka"].address == endpoints.bootstrap == expected
    assert endpoints.dsn == settings.dsn


async def test_second_up_is_idempotent(settings: Settings, endpoints: LocalEndpoints) -> None:
    before = {s.name: s.pid for s in await status(settings)}
    lines: list[str] = []
    again = await ensure_up(settings, progress=lines.append)
    after = {s.name: s.pid for s in await status(settings)}
    assert again == endpoints
    assert after == before
    assert any(line.startswith("kafka: already running") for line in lines), lines
    assert any(line.startswith("postgres: already running") for line in lines), lines
    assert _brokers_using(KafkaPaths.of(settings).config) == [before["kafka"]]


async def test_concurrent_ups_start_nothing_new(
    settings: Settings, endpoints: LocalEndpoints
) -> None:
    before = {s.name: s.pid for s in await status(settings)}
    results = await asyncio.gather(*(ensure_up(settings, lambda line: None) for _ in range(3)))
    assert set(results) == {endpoints}
    assert {s.name: s.pid for s in await status(settings)} == before


async def test_postgres_dsn_connects_as_the_app_role(
    settings: Settings, endpoints: LocalEndpoints
) -> None:
    conn = await asyncpg.connect(endpoints.dsn)
    try:
        user, db = await conn.fetchrow("select current_user, current_database()")
        fsync = await conn.fetchval("show fsync")
        max_connections = await conn.fetchval("show max_connections")
    finally:
        await conn.close()
    assert (user, db) == (settings.local.postgres_user, settings.local.postgres_db)
    assert (fsync, max_connections) == ("off", "200")


async def test_kafka_produce_and_consume_one_message(endpoints: LocalEndpoints) -> None:
    topic = f"test-local-{uuid.uuid4().hex[:8]}"
    payload = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=b"k")  # auto-creates the topic
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=endpoints.bootstrap,
        group_id=f"test-{topic}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"k", payload)


async def test_kafka_transactions_commit(endpoints: LocalEndpoints) -> None:
    topic = f"test-local-tx-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.bootstrap, transactional_id=f"test-{topic}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=endpoints.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert message.value == b"committed"


async def test_broker_logs_through_log4j(settings: Settings, endpoints: LocalEndpoints) -> None:
    paths = KafkaPaths.of(settings)
    check_logging_jars(paths.jars)  # one slf4j-api, and the binding for its major version
    logs = "".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in (paths.log, paths.log.with_suffix(".log.1"))
        if path.exists()
    )
    assert "Defaulting to no-operation" not in logs
    assert "Kafka Server started" in logs


def test_cli_up_prints_endpoints_on_stdout_only(endpoints: LocalEndpoints) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "local", "up"],
        cwd=ROOT,
        env=_env_without_endpoints(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"KAFKA_BOOTSTRAP={endpoints.bootstrap}",
        f"DATABASE_URL={endpoints.dsn}",
    ]
    assert "kafka: already running" in result.stderr


def test_cli_status_exit_codes(endpoints: LocalEndpoints, private_dir: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "app", "local", "status"],
        cwd=ROOT,
        env=_env_without_endpoints(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(" yes ") == 2, ok.stdout
    kafka_port, pg_port = _free_ports(2)
    nothing = _env_without_endpoints() | {
        "ALERTPIPE_LOCAL__DIR": str(private_dir),
        "ALERTPIPE_LOCAL__KAFKA_PORT": str(kafka_port),
        "ALERTPIPE_LOCAL__POSTGRES_PORT": str(pg_port),
    }
    bad = subprocess.run(
        [sys.executable, "-m", "app", "local", "status"],
        cwd=ROOT,
        env=nothing,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0
    assert f"nothing listens on 127.0.0.1:{kafka_port}" in bad.stdout


def _env_without_endpoints() -> dict[str, str]:
    external = ("ALERTPIPE_KAFKA_BOOTSTRAP", "ALERTPIPE_DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in external}
    return env | {"PYTHONPATH": str(ROOT)}


# --------------------------------------------------------------------------- private instance


async def test_private_instance_up_down_up_purge(private: Settings) -> None:
    lines: list[str] = []
    first, second = await asyncio.gather(
        ensure_up(private, lines.append), ensure_up(private, lines.append)
    )
    assert first == second
    assert first.bootstrap == f"127.0.0.1:{private.local.kafka_port}"
    assert f"127.0.0.1:{private.local.postgres_port}/" in first.dsn
    kafka_paths, pg_paths = KafkaPaths.of(private), PgPaths.of(private)
    servers = _by_name(await status(private))
    assert all(s.answers and s.pid for s in servers.values()), servers
    assert _brokers_using(kafka_paths.config) == [servers["kafka"].pid]  # one broker only

    conn = await asyncpg.connect(first.dsn)
    await conn.execute("create table kept (x int)")
    await conn.close()

    await down(private, lines.append)
    stopped = _by_name(await status(private))
    assert not any(s.answers or s.pid for s in stopped.values()), stopped
    assert not pid_alive(servers["kafka"].pid or 0)
    assert not pid_alive(servers["postgres"].pid or 0)
    assert (kafka_paths.data / "meta.properties").exists()
    assert (pg_paths.data / "PG_VERSION").exists()
    assert any("data kept in" in line for line in lines), lines

    again = await ensure_up(private, lines.append)  # restart on the kept data
    conn = await asyncpg.connect(again.dsn)
    try:
        assert await conn.fetchval("select count(*) from kept") == 0
    finally:
        await conn.close()

    await down(private, lines.append, purge=True)
    assert not kafka_paths.home.exists()
    assert not pg_paths.data.exists()
    assert not any(s.answers for s in await status(private))


async def test_port_taken_by_something_else_fails_clearly(
    private_dir: Path, endpoints: LocalEndpoints
) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    settings = _private_settings(private_dir, database_url=endpoints.dsn)  # Kafka only
    server = await asyncio.start_server(refuse, "127.0.0.1", settings.local.kafka_port)
    try:
        with pytest.raises(InfrastructureError) as caught:
            await ensure_up(settings, progress=lambda line: None)
    finally:
        server.close()
        await server.wait_closed()
    message = str(caught.value)
    assert f"127.0.0.1:{settings.local.kafka_port}" in message
    assert "does not answer as Kafka" in message
    assert not KafkaPaths.of(settings).pid.exists()


async def test_broker_that_dies_at_startup_names_its_log(
    private_dir: Path, endpoints: LocalEndpoints
) -> None:
    settings = _private_settings(
        private_dir, database_url=endpoints.dsn, kafka_heap="1k", startup_timeout_s=60
    )  # Kafka only
    with pytest.raises(InfrastructureError) as caught:
        await ensure_up(settings, progress=lambda line: None)
    message = str(caught.value)
    log = KafkaPaths.of(settings).log
    assert "exited during startup" in message
    assert f"log: {log}" in message
    assert "heap" in message.lower()  # the JVM's own complaint, quoted from the log


# --------------------------------------------------------------------------- generated files


def test_pom_pins_a_matching_slf4j_binding() -> None:
    pom = pom_xml("4.1.1")
    assert "<artifactId>slf4j-api</artifactId><version>1.7.36</version>" in pom
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    assert "log4j-slf4j2-impl" not in pom


def test_mismatched_slf4j_binding_is_refused(tmp_path: Path) -> None:
    for name in ("slf4j-api-1.7.36.jar", "log4j-slf4j2-impl-2.24.3.jar"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(InfrastructureError, match="needs the binding"):
        check_logging_jars(tmp_path)


def test_server_properties_follow_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        local=LocalSettings(dir=tmp_path, kafka_port=29092, kafka_controller_port=29093)
    )
    props = dict(
        line.split("=", 1)
        for line in server_properties(settings, tmp_path / "data").splitlines()
        if line and not line.startswith("#")
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key, value in {
        "process.roles": "broker,controller",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
    }.items():
        assert props[key] == value, key


# --------------------------------------------------------------------------- plumbing


def _waits_for(release: Path) -> list[str]:
    """A command that runs until `release` exists: a long step the test ends when it likes."""
    return ["sh", "-c", f'while [ ! -e "{release}" ]; do sleep 0.05; done']


async def _lines_matching(lines: list[str], prefix: str, count: int) -> list[str]:
    async def matching() -> list[str]:
        return [line for line in lines if line.startswith(prefix)]

    return await eventually(matching, lambda found: len(found) >= count, what=f"{count}× {prefix}")


async def test_long_step_reports_progress_while_it_runs(tmp_path: Path) -> None:
    lines: list[str] = []
    release = tmp_path / "release"
    step = asyncio.create_task(
        process.run_logged(
            _waits_for(release),
            what="waiting",
            log=tmp_path / "step.log",
            limit_s=300,
            progress=lines.append,
            heartbeat="test: … still waiting",
            heartbeat_s=0.05,
        )
    )
    await _lines_matching(lines, "test: … still waiting (", 2)
    release.touch()
    await step
    assert all(line.startswith("test: … still waiting (") for line in lines), lines


async def test_kafka_says_it_is_still_starting_while_the_broker_does_not_answer(
    tmp_path: Path,
) -> None:
    (port,) = _free_ports(1)  # nothing listens there: the "broker" never answers
    settings = Settings(local=LocalSettings(dir=tmp_path, kafka_port=port, heartbeat_s=0.05))
    broker = subprocess.Popen(["sleep", "600"])  # alive, so the wait goes on
    lines: list[str] = []
    deadline = time.monotonic() + 600
    waiting = asyncio.create_task(
        wait_ready(settings, KafkaPaths.of(settings), broker.pid, deadline, lines.append)
    )
    try:
        await _lines_matching(lines, "kafka: … still starting (", 2)
        assert not waiting.done()
    finally:
        waiting.cancel()
        broker.kill()
        broker.wait()


async def test_postgres_says_it_is_still_starting_while_pg_ctl_waits(tmp_path: Path) -> None:
    bin_dir, release = tmp_path / "bin", tmp_path / "release"
    bin_dir.mkdir()
    pg_ctl = bin_dir / "pg_ctl"  # a pg_ctl whose `-w start` lasts until the test says so
    pg_ctl.write_text("#!/bin/sh\n" + " ".join(_waits_for(release)[2:]) + "\n")
    pg_ctl.chmod(0o755)
    (port,) = _free_ports(1)
    settings = Settings(local=LocalSettings(dir=tmp_path, postgres_port=port, heartbeat_s=0.05))
    lines: list[str] = []
    starting = asyncio.create_task(
        postgres.start_server(settings, PgPaths.of(settings), bin_dir, None, lines.append)
    )
    try:
        await _lines_matching(lines, "postgres: … still starting (", 2)
        assert not starting.done()
        release.touch()
        await starting
    finally:
        starting.cancel()
    assert lines[0].startswith(f"postgres: starting on 127.0.0.1:{port}"), lines


# ------------------------------------------------------------------ installing PostgreSQL


def _fake_bin(folder: Path, *, sudo: str | None, apt_get: bool = True) -> Path:
    """A PATH holding only fake `sudo` / `apt-get` that record their calls in calls.log.

    `sudo` is "passwordless" (runs its command from this folder) or "password" (refuses,
    as `sudo -n` does when it would have to ask). The fake apt-get's first `install` fails
    until an `update` ran, like a machine whose package lists are stale.
    """
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    calls = folder / "calls.log"
    scripts = {
        "passwordless": f'echo "sudo $*" >> {calls}\nshift\n[ "$1" = true ] && exit 0\n'
        f'cmd="$1"; shift; exec "{bin_dir}/$cmd" "$@"\n',
        "password": f'echo "sudo $*" >> {calls}\necho "sudo: a password is required" >&2\nexit 1\n',
    }
    files = {"sudo": scripts[sudo]} if sudo else {}
    if apt_get:
        files["apt-get"] = (
            f'echo "apt-get $* ($DEBIAN_FRONTEND)" >> {calls}\n'
            f'[ "$1" = update ] && : > {folder}/updated && exit 0\n'
            f"[ -e {folder}/updated ] || exit 100\n"
            'echo "Setting up postgresql"\n'
        )
    for name, body in files.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture()
def not_root(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(postgres, "is_root", lambda: False)
    return monkeypatch


async def test_not_root_installs_postgres_through_sudo_n(
    tmp_path: Path, not_root: pytest.MonkeyPatch
) -> None:
    not_root.setenv("PATH", str(_fake_bin(tmp_path, sudo="passwordless")))
    lines: list[str] = []
    await postgres.install(PgPaths(tmp_path / "data", tmp_path / "pg.log"), lines.append)
    assert _calls(tmp_path) == [
        "sudo -n true",
        "sudo -n apt-get install -y postgresql",
        "apt-get install -y postgresql (noninteractive)",
        "sudo -n apt-get update",
        "apt-get update (noninteractive)",
        "sudo -n apt-get install -y postgresql",
        "apt-get install -y postgresql (noninteractive)",
    ]
    assert "postgres: apt: Setting up postgresql" in lines, lines
    assert lines[-1].startswith("postgres: installed `postgresql`"), lines


@pytest.mark.parametrize("sudo", ["password", None], ids=["sudo-asks-a-password", "no-sudo"])
async def test_not_root_without_usable_sudo_names_the_package_and_command(
    tmp_path: Path, not_root: pytest.MonkeyPatch, sudo: str | None
) -> None:
    not_root.setenv("PATH", str(_fake_bin(tmp_path, sudo=sudo)))
    with pytest.raises(InfrastructureError) as caught:
        await postgres.install(PgPaths(tmp_path / "data", tmp_path / "pg.log"), print)
    message = str(caught.value)
    assert "`postgresql`" in message and "sudo -n" in message
    assert "`sudo apt-get install -y postgresql`" in message
    assert not any(call.startswith("apt-get") for call in _calls(tmp_path))


async def test_no_apt_get_names_the_command_to_run(
    tmp_path: Path, not_root: pytest.MonkeyPatch
) -> None:
    not_root.setenv("PATH", str(_fake_bin(tmp_path, sudo="passwordless", apt_get=False)))
    with pytest.raises(InfrastructureError, match="no apt-get") as caught:
        await postgres.install(PgPaths(tmp_path / "data", tmp_path / "pg.log"), print)
    assert "sudo apt-get install -y postgresql" in str(caught.value)


async def test_failed_step_names_its_log_and_quotes_it(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    with pytest.raises(InfrastructureError) as caught:
        await process.run_logged(
            ["sh", "-c", "echo first; echo boom >&2; exit 3"],
            what="test: the step",
            log=log,
            limit_s=10,
        )
    message = str(caught.value)
    assert message.startswith("test: the step failed (exit code 3)")
    assert f"log: {log}" in message
    assert "first" in message and "boom" in message
