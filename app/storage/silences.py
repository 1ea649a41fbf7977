"""Silences in PostgreSQL: create, read, list, update, expire (deleting keeps the history)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import asyncpg

from app.storage.pool import Row, moment
from handlers.silences import Matcher, Silence

__all__ = ["PgSilenceStore", "silence_from_row"]


def silence_from_row(row: Row) -> Silence:
    return Silence(
        id=row["id"],
        matchers=tuple(Matcher(m["name"], m["value"], m["op"]) for m in row["matchers"]),
        starts_at=float(row["starts_at"].timestamp()),
        ends_at=float(row["ends_at"].timestamp()),
        created_by=row["created_by"],
        comment=row["comment"],
        created_at=float(row["created_at"].timestamp()),
        hold_automation=row["hold_automation"],
        updated_by=row["updated_by"],
    )


def _matchers(silence: Silence) -> list[dict[str, Any]]:
    return [{"name": m.name, "value": m.value, "op": m.op} for m in silence.matchers]


class PgSilenceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    def new_id() -> str:
        return f"sil_{uuid.uuid4().hex[:12]}"

    async def create(self, silence: Silence, now: float) -> Silence:
        await self._pool.execute(
            """INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment,
                   created_at, updated_at, hold_automation)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)""",
            silence.id,
            _matchers(silence),
            moment(silence.starts_at),
            moment(silence.ends_at),
            silence.created_by,
            silence.comment,
            moment(now),
            silence.hold_automation,
        )
        return replace(silence, created_at=now)

    async def get(self, silence_id: str) -> Silence | None:
        row = await self._pool.fetchrow("SELECT * FROM silences WHERE id = $1", silence_id)
        return None if row is None else silence_from_row(row)

    async def list(self, now: float, include_expired: bool = False) -> list[Silence]:
        rows = await self._pool.fetch(
            "SELECT * FROM silences WHERE $2 OR ends_at > $1 ORDER BY created_at DESC",
            moment(now),
            include_expired,
        )
        return [silence_from_row(r) for r in rows]

    async def update(self, silence: Silence, now: float) -> Silence | None:
        status = await self._pool.execute(
            """UPDATE silences SET matchers = $2, starts_at = $3, ends_at = $4, comment = $5,
                   updated_at = $6, updated_by = $7, hold_automation = $8
               WHERE id = $1""",
            silence.id,
            _matchers(silence),
            moment(silence.starts_at),
            moment(silence.ends_at),
            silence.comment,
            moment(now),
            silence.updated_by,
            silence.hold_automation,
        )
        return silence if status.endswith(" 1") else None

    async def expire(self, silence_id: str, now: float, by: str | None = None) -> Silence | None:
        """End it now (a pending one ends before it starts); the row stays for the record."""
        row = await self._pool.fetchrow(
            """UPDATE silences SET ends_at = LEAST(ends_at, $2),
                   starts_at = LEAST(starts_at, $2), updated_at = $2, updated_by = $3
               WHERE id = $1 RETURNING *""",
            silence_id,
            moment(now),
            by,
        )
        return None if row is None else silence_from_row(row)
