"""The incident board's read side: every incident not resolved, then the latest resolved ones."""

from __future__ import annotations

import asyncpg

from app.storage.incidents import incident_from_row
from handlers.incidents.incident import Incident

__all__ = ["PgIncidentBoard"]


class PgIncidentBoard:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def incidents(self, resolved: int) -> list[Incident]:
        """Every incident not resolved, and the ``resolved`` most recently opened resolved."""
        # Every column, as the incident store reads them: incident_from_row is the one mapping.
        rows = await self._pool.fetch(
            """(SELECT * FROM incidents WHERE status <> 'resolved')
               UNION ALL
               (SELECT * FROM incidents WHERE status = 'resolved'
                ORDER BY opened_at DESC LIMIT $1)""",
            resolved,
        )
        return [incident_from_row(row) for row in rows]
