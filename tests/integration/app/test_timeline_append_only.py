"""The incident timeline is append-only in the database itself, whoever connects to it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

_AT = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
async def conn(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database)
    await conn.execute(
        """INSERT INTO incidents (id, service, severity, status, title, opened_at,
               last_decision_at)
           VALUES ('inc_1', 'chat-api', 'CRITICAL', 'open', 't', $1, $1)""",
        _AT,
    )
    await conn.execute(
        """INSERT INTO timeline (incident_id, at, kind, actor, message)
           VALUES ('inc_1', $1, 'decision', 'alertpipe', 'CRITICAL error_rate firing')""",
        _AT,
    )
    yield conn
    await conn.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE timeline SET message = 'nothing happened'",
        "DELETE FROM timeline",
        "TRUNCATE timeline",
        "TRUNCATE incidents CASCADE",
    ],
)
async def test_the_timeline_refuses_every_rewrite(conn: asyncpg.Connection, statement: str) -> None:
    with pytest.raises(asyncpg.RaiseError, match="the incident timeline is append-only"):
        await conn.execute(statement)
    assert await conn.fetchval("SELECT message FROM timeline") == "CRITICAL error_rate firing"


async def test_appending_still_works(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """INSERT INTO timeline (incident_id, at, kind, actor, message)
           VALUES ('inc_1', $1, 'status', 'ana', 'resolved')""",
        _AT,
    )
    assert await conn.fetchval("SELECT count(*) FROM timeline") == 2
