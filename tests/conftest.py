"""Shared fixtures: the real servers (`alertpipe local up`), unique topics and databases.

Tests talk to real Kafka and PostgreSQL. `make test` brings them up first; run
`.venv/bin/alertpipe local up` yourself before running pytest directly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.settings import Settings
from app.storage.migrations import migrate


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
async def bootstrap(settings: Settings) -> str:
    """The Kafka bootstrap address, after checking that the broker answers."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 15)
        await admin.list_topics()
    except Exception as error:
        pytest.fail(
            f"Kafka at {settings.bootstrap} is not answering ({error!r}); run `alertpipe local up`"
        )
    finally:
        await admin.close()
    return settings.bootstrap


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A name unique to this test run, e.g. unique("telemetry") -> "telemetry-3f9c1a2b"."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def make_topic(
    bootstrap: str, unique: Callable[[str], str]
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Create fresh topics; they are deleted after the test."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    created: list[str] = []

    async def _make(prefix: str = "t", partitions: int = 1) -> str:
        name = unique(prefix)
        await admin.create_topics([NewTopic(name, partitions, 1)])
        created.append(name)
        return name

    yield _make
    if created:
        await admin.delete_topics(created)
    await admin.close()


async def consume(
    bootstrap: str, topic: str, count: int, timeout_s: float = 30.0
) -> list[tuple[bytes | None, bytes]]:
    """Read ``count`` messages from the start of ``topic`` (read_committed), or fail on timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    got: list[tuple[bytes | None, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(got) < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                got.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    assert len(got) >= count, f"only {len(got)} of {count} messages arrived on {topic}"
    return got


@pytest.fixture(scope="session")
async def pg_admin_dsn(settings: Settings) -> str:
    """DSN of the server's maintenance database, after checking the server answers."""
    dsn = settings.dsn
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
        await conn.close()
    except Exception as error:
        pytest.fail(f"PostgreSQL at {dsn} is not answering ({error!r}); run `alertpipe local up`")
    return dsn


def _with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
async def empty_database(pg_admin_dsn: str, unique: Callable[[str], str]) -> AsyncIterator[str]:
    """A new, empty database for this test; dropped afterwards. Yields its DSN."""
    name = unique("test").replace("-", "_")
    admin = await asyncpg.connect(pg_admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(pg_admin_dsn, name)
    finally:
        await _drop_database(admin, name)
        await admin.close()


async def _drop_database(admin: asyncpg.Connection, name: str) -> None:
    # FORCE cannot terminate a backend of another role (an autovacuum worker that just
    # started on the fresh database, say); such a backend ends on its own within moments.
    for attempt in range(50):
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.1)


@pytest.fixture
async def database(empty_database: str) -> str:
    """A new database with every migration applied. Yields its DSN."""
    await migrate(empty_database)
    return empty_database
