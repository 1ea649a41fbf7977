"""The PostgreSQL pool of the commands that talk to the database directly (token, hold,
readiness): migrated first, as ``alertpipe run`` would, and an unreachable server reported as
one line that says how to start it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from app.errors import InfrastructureError
from app.settings import Settings
from app.storage.migrations import migrate
from app.storage.pool import create_pool

__all__ = ["migrated_pool", "when"]


@asynccontextmanager
async def migrated_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    try:
        await migrate(settings.dsn, schema=settings.database_schema)
        pool = await create_pool(settings.dsn, max_size=2)
    except (OSError, ConnectionError) as error:
        raise InfrastructureError(
            f"cannot reach PostgreSQL ({error}); start it (`alertpipe local up`) or set "
            "ALERTPIPE_DATABASE_URL"
        ) from None
    try:
        yield pool
    finally:
        await pool.close()


def when(epoch_s: float | None) -> str:
    """A moment as the commands print it (UTC, to the second); ``-`` for none."""
    if epoch_s is None:
        return "-"
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
