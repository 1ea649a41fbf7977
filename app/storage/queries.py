"""Read side for the HTTP API: incidents with their timeline, actions and rollback."""

from __future__ import annotations

from typing import Any

import asyncpg

from handlers.rollback.restore import restored_backups

__all__ = ["PgIncidentQueries"]

_INCIDENT_COLUMNS = """id, service, scenario, severity, status, title, opened_at, acknowledged_at,
    acknowledged_by, ack_note, mitigated_at, resolved_at, bad_version, last_good_version,
    target_basis, involves_data, rollback_status, human_decision, alerts, steps, updated_at,
    dry_run, hold_releases, drill"""


class PgIncidentQueries:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_incidents(
        self, status: str | None = None, service: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"""SELECT {_INCIDENT_COLUMNS} FROM incidents
                WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR service = $2)
                ORDER BY opened_at DESC LIMIT $3""",  # noqa: S608 (constant column list)
            status,
            service,
            limit,
        )
        return [dict(r) for r in rows]

    async def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = $1",  # noqa: S608
                incident_id,
            )
            if row is None:
                return None
            timeline = await conn.fetch(
                """SELECT id, at, kind, actor, message, reason, evidence, result FROM timeline
                   WHERE incident_id = $1 ORDER BY id""",
                incident_id,
            )
            actions = await conn.fetch(
                """SELECT id, kind, idempotency_key, status, attempts, reason, last_error,
                          created_at, finished_at, payload
                   FROM actions WHERE incident_id = $1 ORDER BY id""",
                incident_id,
            )
            rollback = await conn.fetchrow(
                """SELECT id, status, reason, from_version, target_version, involves_data,
                          emergency, capacity, requested_at, started_at, finished_at, outcome,
                          restore_before, restore_basis, target_basis
                   FROM rollbacks WHERE incident_id = $1""",
                incident_id,
            )
            phases = await conn.fetch(
                """SELECT p.phase, p.status, p.started_at, p.finished_at, p.budget_min_s,
                          p.budget_s, p.duration_s, p.attempt, p.detail
                   FROM rollback_phases p JOIN rollbacks r ON r.id = p.rollback_id
                   WHERE r.incident_id = $1 ORDER BY p.started_at""",
                incident_id,
            )
        found = dict(row)
        found["timeline"] = [dict(t) for t in timeline]
        found["actions"] = [dict(a) for a in actions]
        found["rollback"] = None if rollback is None else _rollback(dict(rollback), phases)
        return found

    async def list_slo_budgets(
        self, slo: str | None = None, service: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The latest error budget of each SLO and scope, the most spent first."""
        rows = await self._pool.fetch(
            """SELECT slo, service, scope, objective, period_s, at, since, requests, errors,
                      budget_remaining, burn_rates
               FROM slo_budgets
               WHERE ($1::text IS NULL OR slo = $1) AND ($2::text IS NULL OR service = $2)
               ORDER BY budget_remaining ASC NULLS LAST, slo, scope_id LIMIT $3""",
            slo,
            service,
            limit,
        )
        return [dict(r) for r in rows]


def _rollback(rollback: dict[str, Any], phases: list[Any]) -> dict[str, Any]:
    """The rollback with its phases and, for a data rollback, what was restored."""
    restore = next((p for p in phases if p["phase"] == "restore_data"), None)
    restored = restored_backups(restore["detail"]) if restore is not None else []
    return {**rollback, "phases": [dict(p) for p in phases], "restored": restored}
