"""The asyncpg pool stages 3–4 share: jsonb decoded to Python, times as timestamptz."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

__all__ = ["Conn", "Row", "create_pool", "database_error", "epoch", "moment"]

Row: TypeAlias = asyncpg.Record
if TYPE_CHECKING:  # the stubs make these generic; at run time they are plain classes
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Conn = asyncpg.Connection | PoolConnectionProxy


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init
    )
    return pool


# The server is gone, going or not there yet (SQLSTATE classes 08 and 57: connection
# exceptions, operator intervention such as a shutdown or a server still starting), or the
# client lost its connection: a server coming back cures all of them. Any other database error
# (a missing table, a refused password) is not an outage.
_UNREACHABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
)


def database_error(error: BaseException) -> bool:
    """An asyncpg error that PostgreSQL coming back can cure (``streams.supervise``)."""
    return isinstance(error, _UNREACHABLE)


def moment(epoch_s: float | None) -> datetime | None:
    """Epoch seconds (our clocks) to a timestamptz parameter."""
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, tz=UTC)


def epoch(value: Any) -> float | None:
    """A timestamptz column back to epoch seconds."""
    return None if value is None else float(value.timestamp())
