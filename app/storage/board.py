"""The incident board's read side: every incident not resolved, then the latest resolved ones."""

from __future__ import annotations

import asyncpg

from app.storage.incidents import incident_from_row
from handlers.incidents.incident import Incident

__all__ = ["PgIncidentBoard"]

_COLUMNS = """id, service, scenario, severity, status, title, opened_at, last_decision_at,
    acknowledged_at, acknowledged_by, ack_note, mitigated_at, resolved_at, bad_version,
    last_good_version, involves_data, rollback_status, human_decision, alerts, steps"""


class PgIncidentBoard:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def incidents(self, resolved: int) -> list[Incident]:
        """Every incident not resolved, and the ``resolved`` most recently opened resolved."""
        rows = await self._pool.fetch(
            f"""(SELECT {_COLUMNS} FROM incidents WHERE status <> 'resolved')
                UNION ALL
                (SELECT {_COLUMNS} FROM incidents WHERE status = 'resolved'
                 ORDER BY opened_at DESC LIMIT $1)""",  # noqa: S608 (constant column list)
            resolved,
        )
        return [incident_from_row(row) for row in rows]
