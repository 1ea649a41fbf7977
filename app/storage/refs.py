"""asyncpg adapter of ``handlers.receivers.refs.ReceiverRefs``: the ids outside services gave
our incidents (table ``receiver_refs``)."""

from __future__ import annotations

import asyncpg

__all__ = ["PgReceiverRefs"]


class PgReceiverRefs:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, incident_id: str, receiver: str) -> str | None:
        ref: str | None = await self._pool.fetchval(
            "SELECT ref FROM receiver_refs WHERE incident_id = $1 AND receiver = $2",
            incident_id,
            receiver,
        )
        return ref

    async def put(self, incident_id: str, receiver: str, ref: str) -> None:
        # The first id kept stays: two creates racing (a lease ran out mid-send) keep one.
        await self._pool.execute(
            """INSERT INTO receiver_refs (incident_id, receiver, ref) VALUES ($1, $2, $3)
               ON CONFLICT (incident_id, receiver) DO NOTHING""",
            incident_id,
            receiver,
            ref,
        )
