"""asyncpg adapter of the drills: rows, leases for the runner, abort, and the evidence a
report is built from (the drill's incidents with their timeline, actions and rollback).

Every statement is parameterised; edits of a debrief are kept in the append-only ``edits``.
"""

from __future__ import annotations

from typing import Any, Literal

import asyncpg

from app.storage.pool import epoch, moment
from app.storage.queries import PgIncidentQueries
from schemas.errors import CommandError

__all__ = ["DrillNotFound", "DrillScenario", "DrillStatus", "PgDrillStore"]

# The migration's CHECK lists (0013_drills.sql) are these; tests/integration/app/test_migrations.py
# holds them to it.
DrillScenario = Literal["s1", "s2", "s3", "s4"]  # the plan's failure scenarios a drill plays
DrillStatus = Literal["starting", "running", "finished", "aborted"]

_COLUMNS = """id, scenario, service, live, status, started_by, compress, created_at,
    announced_at, fault_at, traffic_stopped_at, ended_at, outcome, events_sent, report, debrief"""

_CLAIM = """
UPDATE drills SET lease_owner = $1, lease_until = $3
WHERE id = (
    SELECT id FROM drills
    WHERE status IN ('starting', 'running') AND (lease_until IS NULL OR lease_until < $2)
    ORDER BY created_at
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING id
"""


class DrillNotFound(CommandError, LookupError):
    """No drill has the id (``args[0]``)."""


class PgDrillStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._queries = PgIncidentQueries(pool)

    # --- rows ---------------------------------------------------------------------------

    async def create(self, drill: dict[str, Any], now: float) -> dict[str, Any]:
        await self._pool.execute(
            """INSERT INTO drills (id, scenario, service, live, status, started_by, compress,
                   created_at)
               VALUES ($1, $2, $3, $4, 'starting', $5, $6, $7)""",
            drill["id"],
            drill["scenario"],
            drill.get("service"),
            drill.get("live", False),
            drill["started_by"],
            drill.get("compress", 1.0),
            moment(now),
        )
        return await self.get(drill["id"])

    async def find(self, drill_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM drills WHERE id = $1",  # noqa: S608 (constant columns)
            drill_id,
        )
        return None if row is None else dict(row)

    async def get(self, drill_id: str) -> dict[str, Any]:
        found = await self.find(drill_id)
        if found is None:
            raise DrillNotFound(drill_id)
        return found

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM drills ORDER BY created_at DESC LIMIT $1",  # noqa: S608
            limit,
        )
        return [dict(r) for r in rows]

    async def is_live(self, drill_id: str) -> bool:
        return bool(await self._pool.fetchval("SELECT live FROM drills WHERE id = $1", drill_id))

    async def last_finished_at(self) -> float | None:
        """When the last drill that ran to its end (not aborted) ended."""
        return epoch(
            await self._pool.fetchval("SELECT max(ended_at) FROM drills WHERE status = 'finished'")
        )

    # --- the runner's lease and progress --------------------------------------------------

    async def claim(self, owner: str, now: float, lease_s: float) -> str | None:
        found = await self._pool.fetchval(_CLAIM, owner, moment(now), moment(now + lease_s))
        return None if found is None else str(found)

    async def release(self, owner: str) -> None:
        """Give up ``owner``'s leases on drills still in progress (it stopped running them)."""
        await self._pool.execute(
            """UPDATE drills SET lease_until = NULL
               WHERE lease_owner = $1 AND status IN ('starting', 'running')""",
            owner,
        )

    async def renew(self, drill_id: str, owner: str, now: float, lease_s: float) -> bool:
        status = await self._pool.execute(
            """UPDATE drills SET lease_until = $3
               WHERE id = $1 AND lease_owner = $2 AND status IN ('starting', 'running')""",
            drill_id,
            owner,
            moment(now + lease_s),
        )
        return bool(status.endswith(" 1"))

    async def announced(self, drill_id: str, now: float, fault_at: float) -> None:
        await self._pool.execute(
            """UPDATE drills SET status = 'running', announced_at = COALESCE(announced_at, $2),
                   fault_at = COALESCE(fault_at, $3)
               WHERE id = $1 AND status = 'starting'""",
            drill_id,
            moment(now),
            moment(fault_at),
        )

    async def count_sent(self, drill_id: str, sent: int) -> None:
        await self._pool.execute(
            "UPDATE drills SET events_sent = events_sent + $2 WHERE id = $1", drill_id, sent
        )

    async def finish(self, drill_id: str, now: float, outcome: str, report: dict[str, Any]) -> None:
        """The traffic stopped; an aborted drill stays aborted (with its own outcome)."""
        await self._pool.execute(
            """UPDATE drills SET
                   status = CASE WHEN status = 'aborted' THEN status ELSE 'finished' END,
                   outcome = CASE WHEN status = 'aborted' THEN outcome ELSE $3 END,
                   ended_at = COALESCE(ended_at, $2),
                   traffic_stopped_at = COALESCE(traffic_stopped_at, $2),
                   report = $4, lease_owner = NULL, lease_until = NULL
               WHERE id = $1""",
            drill_id,
            moment(now),
            outcome,
            report,
        )

    async def save_report(self, drill_id: str, report: dict[str, Any]) -> None:
        await self._pool.execute("UPDATE drills SET report = $2 WHERE id = $1", drill_id, report)

    # --- abort ----------------------------------------------------------------------------

    async def mark_aborted(self, drill_id: str, by: str, now: float) -> bool:
        """Stop the drill (its runner stops the traffic); False when it had already ended."""
        status = await self._pool.execute(
            """UPDATE drills SET status = 'aborted', ended_at = $2, outcome = $3
               WHERE id = $1 AND status IN ('starting', 'running')""",
            drill_id,
            moment(now),
            f"aborted by {by}",
        )
        return bool(status.endswith(" 1"))

    async def end_rollbacks(self, drill_id: str, now: float) -> list[str]:
        """End the drill's active rollbacks (their worker stops at its next step) and cancel
        its control calls not sent yet; each incident is locked first, as the orchestrator
        locks it, so a step in progress finishes before."""
        ended: list[str] = []
        async with self._pool.acquire() as conn, conn.transaction():
            incidents = await conn.fetch(
                "SELECT id FROM incidents WHERE drill = $1 ORDER BY id FOR NO KEY UPDATE",
                drill_id,
            )
            ids = [r["id"] for r in incidents]
            rows = await conn.fetch(
                """UPDATE rollbacks SET status = 'failed', finished_at = $2,
                       outcome = 'aborted with the drill', lease_owner = NULL, lease_until = NULL
                   WHERE incident_id = ANY($1::text[]) AND status IN ('requested', 'running')
                   RETURNING id""",
                ids,
                moment(now),
            )
            ended = [r["id"] for r in rows]
            await conn.execute(
                """UPDATE rollback_phases SET status = 'failed', finished_at = $2,
                       duration_s = extract(epoch FROM $2 - started_at)
                   WHERE rollback_id = ANY($1::text[]) AND status = 'running'""",
                ended,
                moment(now),
            )
            await conn.execute(
                """UPDATE incidents SET rollback_status = 'failed', updated_at = $2
                   WHERE id = ANY($1::text[]) AND rollback_status IN ('requested', 'running')""",
                ids,
                moment(now),
            )
            await conn.execute(
                """UPDATE actions SET status = 'failed', reason = 'drill aborted',
                       finished_at = $2, lease_until = NULL
                   WHERE incident_id = ANY($1::text[]) AND status IN ('pending', 'sending')
                     AND kind NOT IN ('page', 'chat', 'status_page')""",
                ids,
                moment(now),
            )
        return ended

    async def open_incidents(self, drill_id: str) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT id FROM incidents WHERE drill = $1 AND status <> 'resolved' ORDER BY id",
            drill_id,
        )
        return [r["id"] for r in rows]

    async def cancel_timers(self, drill_id: str, now: float) -> int:
        status = await self._pool.execute(
            """UPDATE timers SET fired_at = $2, outcome = 'drill aborted'
               WHERE fired_at IS NULL
                 AND incident_id IN (SELECT id FROM incidents WHERE drill = $1)""",
            drill_id,
            moment(now),
        )
        return int(status.split()[-1])

    # --- evidence -------------------------------------------------------------------------

    async def incidents(self, drill_id: str) -> list[dict[str, Any]]:
        """The drill's incidents, oldest first, each with timeline, actions and rollback."""
        rows = await self._pool.fetch(
            "SELECT id FROM incidents WHERE drill = $1 ORDER BY opened_at, id", drill_id
        )
        found = [await self._queries.get_incident(r["id"]) for r in rows]
        return [i for i in found if i is not None]

    async def incidents_status(self, drill_id: str) -> list[str]:
        rows = await self._pool.fetch("SELECT status FROM incidents WHERE drill = $1", drill_id)
        return [r["status"] for r in rows]

    async def first_decision_at(self, drill_id: str) -> float | None:
        """When the first of the drill's alerts fired reached the responder."""
        return epoch(
            await self._pool.fetchval(
                """SELECT min(received_at) FROM decisions
                   WHERE drill = $1 AND state = 'firing'""",
                drill_id,
            )
        )

    async def remedies(self, drill_id: str) -> list[dict[str, Any]]:
        """The drill's control calls delivered so far (the simulated fleet heals on them)."""
        rows = await self._pool.fetch(
            """SELECT a.kind, a.payload, a.finished_at FROM actions a
               JOIN incidents i ON i.id = a.incident_id
               WHERE i.drill = $1 AND a.status = 'sent'
                 AND a.kind IN ('rollback', 'restore', 'bot_restart')
               ORDER BY a.id""",
            drill_id,
        )
        return [dict(r) for r in rows]

    # --- debrief --------------------------------------------------------------------------

    async def edit_debrief(
        self, drill_id: str, fields: dict[str, Any], by: str, now: float
    ) -> dict[str, Any]:
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval(
                "SELECT debrief FROM drills WHERE id = $1 FOR UPDATE", drill_id
            )
            if current is None:
                raise DrillNotFound(drill_id)
            merged = {**current, **fields}
            await conn.execute("UPDATE drills SET debrief = $2 WHERE id = $1", drill_id, merged)
            await conn.executemany(
                """INSERT INTO edits (subject, at, actor, field, value)
                   VALUES ($1, $2, $3, $4, $5)""",
                [
                    (f"drill:{drill_id}", moment(now), by, k, {"value": v})
                    for k, v in fields.items()
                ],
            )
        return await self.get(drill_id)

    async def edits(self, subject: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT at, actor, field, value FROM edits WHERE subject = $1 ORDER BY id", subject
        )
        return [dict(r) for r in rows]
