"""What /metrics samples from the database at each scrape: the outbox's backlog and the age of
its oldest undelivered action (per kind), and the durable timers that are due or late."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.storage.pool import moment

__all__ = ["Backlog", "PgGauges", "TimersDue"]


@dataclass(frozen=True)
class Backlog:
    kind: str
    actions: int  # pending or sending (a retry waiting for its next attempt counts)
    oldest_created_at: float


@dataclass(frozen=True)
class TimersDue:
    due: int  # not fired, due now or before
    late: int  # not fired, due longer ago than the lateness allowed


class PgGauges:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def backlog(self) -> list[Backlog]:
        rows = await self._pool.fetch(
            """SELECT kind, count(*) AS actions, min(created_at) AS oldest FROM actions
               WHERE status IN ('pending', 'sending') GROUP BY kind"""
        )
        return [Backlog(r["kind"], r["actions"], float(r["oldest"].timestamp())) for r in rows]

    async def timers(self, now: float, late_after_s: float) -> TimersDue:
        row = await self._pool.fetchrow(
            """SELECT count(*) FILTER (WHERE due_at <= $1) AS due,
                      count(*) FILTER (WHERE due_at <= $2) AS late
               FROM timers WHERE fired_at IS NULL AND due_at <= $1""",
            moment(now),
            moment(now - late_after_s),
        )
        assert row is not None
        return TimersDue(row["due"], row["late"])
