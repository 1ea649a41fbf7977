"""asyncpg adapter of the reviews: which incidents need a (new) draft, their evidence, the
drafts, and people's edits (merged into ``reviews.edits``, each one kept in ``edits`` and on
the incident's timeline with its author)."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.reviews.draft import Evidence
from app.storage.pool import moment
from app.storage.queries import PgIncidentQueries

__all__ = ["PgReviewStore", "needs_review"]

# The plan: "After any rollback or major incident" — a rollback, or HIGH or CRITICAL.
_ELIGIBLE = """(i.severity IN ('HIGH', 'CRITICAL')
    OR EXISTS (SELECT 1 FROM rollbacks r WHERE r.incident_id = i.id))"""


def needs_review(incident: dict[str, Any]) -> bool:
    return incident.get("severity") in ("HIGH", "CRITICAL") or incident.get("rollback") is not None


class PgReviewStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._queries = PgIncidentQueries(pool)

    async def pending(self, resolved_before: float, limit: int = 10) -> list[str]:
        """Resolved incidents that need a review drafted, or drafted again (changed since);
        only those resolved before ``resolved_before`` (their last panes have closed)."""
        rows = await self._pool.fetch(
            f"""SELECT i.id FROM incidents i LEFT JOIN reviews v ON v.incident_id = i.id
                WHERE i.status = 'resolved' AND {_ELIGIBLE} AND i.resolved_at <= $2
                  AND (v.incident_id IS NULL OR v.drafted_at < i.updated_at)
                ORDER BY i.resolved_at LIMIT $1""",  # noqa: S608 (constant condition)
            limit,
            moment(resolved_before),
        )
        return [r["id"] for r in rows]

    async def evidence(self, incident_id: str) -> Evidence | None:
        incident = await self._queries.get_incident(incident_id)
        if incident is None:
            return None
        async with self._pool.acquire() as conn:
            decisions = await conn.fetch(
                "SELECT body FROM decisions WHERE incident_id = $1 ORDER BY at, decision_id",
                incident_id,
            )
            deploys = await conn.fetch(
                """SELECT service, version, status, at FROM deploys
                   WHERE service = $1 AND drill IS NOT DISTINCT FROM $2 ORDER BY at""",
                incident["service"],
                incident["drill"],
            )
            neighbours = await conn.fetch(
                """SELECT id, service, severity FROM incidents
                   WHERE id <> $1 AND drill IS NOT DISTINCT FROM $2
                     AND opened_at <= COALESCE($4, now()) AND COALESCE(resolved_at, now()) >= $3
                   ORDER BY opened_at""",
                incident_id,
                incident["drill"],
                incident["opened_at"],
                incident["resolved_at"],
            )
            edits = await conn.fetchval(
                "SELECT edits FROM reviews WHERE incident_id = $1", incident_id
            )
        return Evidence(
            incident=incident,
            decisions=[r["body"] for r in decisions],
            deploys=[dict(r) for r in deploys],
            neighbours=[dict(r) for r in neighbours],
            edits=edits or {},
        )

    async def save(self, incident_id: str, draft: dict[str, Any], now: float) -> None:
        await self._pool.execute(
            """INSERT INTO reviews (incident_id, drafted_at, due_at, draft, updated_at)
               VALUES ($1, $2, $3, $4, $2)
               ON CONFLICT (incident_id) DO UPDATE SET drafted_at = EXCLUDED.drafted_at,
                   due_at = EXCLUDED.due_at, draft = EXCLUDED.draft,
                   updated_at = EXCLUDED.updated_at""",
            incident_id,
            moment(now),
            moment(draft["due_at"]),
            draft,
        )

    async def get(self, incident_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            """SELECT drafted_at, due_at, draft, edits, updated_at FROM reviews
               WHERE incident_id = $1""",
            incident_id,
        )
        return None if row is None else dict(row)

    async def edit(self, incident_id: str, fields: dict[str, Any], by: str, now: float) -> bool:
        """Merge ``fields`` into the review's edits; audited. False: no review drafted yet."""
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchval(
                "SELECT edits FROM reviews WHERE incident_id = $1 FOR UPDATE", incident_id
            )
            if current is None:
                return False
            merged = dict(current)
            for name, value in fields.items():
                if isinstance(value, dict):  # owners / due: per corrective action
                    merged[name] = {**(merged.get(name) or {}), **value}
                else:
                    merged[name] = value
            await conn.execute(
                "UPDATE reviews SET edits = $2, updated_at = $3 WHERE incident_id = $1",
                incident_id,
                merged,
                moment(now),
            )
            await conn.executemany(
                "INSERT INTO edits (subject, at, actor, field, value) VALUES ($1, $2, $3, $4, $5)",
                [
                    (f"review:{incident_id}", moment(now), by, k, {"value": v})
                    for k, v in fields.items()
                ],
            )
            await conn.execute(
                """INSERT INTO timeline (incident_id, at, kind, actor, message, reason)
                   VALUES ($1, $2, 'review', $3, $4, '')""",
                incident_id,
                moment(now),
                by,
                f"review edited by {by}: {', '.join(sorted(fields))}",
            )
        return True

    async def edits(self, incident_id: str) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT at, actor, field, value FROM edits WHERE subject = $1 ORDER BY id",
            f"review:{incident_id}",
        )
        return [dict(r) for r in rows]
