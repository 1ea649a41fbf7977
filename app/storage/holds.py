"""Maintenance windows and global automation holds in PostgreSQL, and what holds automation now.

``PgHoldStore.automation(now)`` is ``handlers.holds.HoldSource``: the policy file's windows
(given at construction, ids ``policy:<name>``), the standing windows and global holds made
through the API or the CLI, and the active silences that hold automation. Ending a window or
lifting a hold keeps its row (who, when) and wakes the held control calls at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from app.storage.pool import Row, epoch, moment
from app.storage.silences import silence_from_row
from handlers.holds import Automation, GlobalHold, Window
from schemas.maintenance import MaintenanceWindow

__all__ = ["PgHoldStore", "policy_windows"]

_WAKE_HELD = "UPDATE actions SET next_attempt_at = $1 WHERE status = 'held'"


def policy_windows(windows: Sequence[MaintenanceWindow]) -> tuple[Window, ...]:
    """The policy file's windows, named ``policy:<name>``."""
    return tuple(Window(f"policy:{w.name}", w, "policy") for w in windows)


def _window(row: Row) -> Window:
    return Window(
        row["id"],
        MaintenanceWindow.model_validate(row["spec"]),
        "api",
        row["created_by"],
        float(row["created_at"].timestamp()),
    )


def _hold(row: Row) -> GlobalHold:
    return GlobalHold(
        row["id"],
        row["reason"],
        row["created_by"],
        float(row["created_at"].timestamp()),
        epoch(row["lifted_at"]),
        row["lifted_by"],
    )


def _spec(window: MaintenanceWindow) -> dict[str, Any]:
    return window.model_dump(mode="json")


class PgHoldStore:
    def __init__(self, pool: asyncpg.Pool, policy: Sequence[MaintenanceWindow] = ()) -> None:
        self._pool = pool
        self.policy = policy_windows(policy)

    # what holds automation now (handlers.holds.HoldSource) -----------------------------------

    async def automation(self, now: float) -> Automation:
        async with self._pool.acquire() as conn:
            windows = await conn.fetch(
                "SELECT * FROM maintenance_windows WHERE ended_at IS NULL ORDER BY created_at"
            )
            holds = await conn.fetch(
                "SELECT * FROM automation_holds WHERE lifted_at IS NULL ORDER BY created_at"
            )
            silences = await conn.fetch(
                """SELECT * FROM silences WHERE hold_automation AND starts_at <= $1
                     AND ends_at > $1 ORDER BY created_at""",
                moment(now),
            )
        return Automation(
            windows=(*self.policy, *map(_window, windows)),
            holds=tuple(map(_hold, holds)),
            silences=tuple(map(silence_from_row, silences)),
        )

    # maintenance windows ----------------------------------------------------------------------

    async def windows(self, include_ended: bool = False) -> list[Window]:
        rows = await self._pool.fetch(
            """SELECT * FROM maintenance_windows WHERE $1 OR ended_at IS NULL
               ORDER BY created_at""",
            include_ended,
        )
        return [*self.policy, *map(_window, rows)]

    async def window(self, window_id: str) -> Window | None:
        found = next((w for w in self.policy if w.id == window_id), None)
        if found is not None:
            return found
        row = await self._pool.fetchrow(
            "SELECT * FROM maintenance_windows WHERE id = $1 AND ended_at IS NULL", window_id
        )
        return None if row is None else _window(row)

    async def create_window(self, spec: MaintenanceWindow, by: str, now: float) -> Window:
        window_id = f"mw_{uuid.uuid4().hex[:12]}"
        await self._pool.execute(
            """INSERT INTO maintenance_windows (id, name, spec, created_by, created_at,
                   updated_at)
               VALUES ($1, $2, $3, $4, $5, $5)""",
            window_id,
            spec.name,
            _spec(spec),
            by,
            moment(now),
        )
        return Window(window_id, spec, "api", by, now)

    async def update_window(
        self, window_id: str, spec: MaintenanceWindow, now: float
    ) -> Window | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE maintenance_windows SET name = $2, spec = $3, updated_at = $4
                   WHERE id = $1 AND ended_at IS NULL RETURNING *""",
                window_id,
                spec.name,
                _spec(spec),
                moment(now),
            )
            await conn.execute(_WAKE_HELD, moment(now))
        return None if row is None else _window(row)

    async def end_window(self, window_id: str, by: str, now: float) -> Window | None:
        """End it now; the row stays (who ended it, when) and held calls look again."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE maintenance_windows SET ended_at = $2, ended_by = $3, updated_at = $2
                   WHERE id = $1 AND ended_at IS NULL RETURNING *""",
                window_id,
                moment(now),
                by,
            )
            await conn.execute(_WAKE_HELD, moment(now))
        return None if row is None else _window(row)

    # global holds -----------------------------------------------------------------------------

    async def holds(self, include_lifted: bool = False) -> list[GlobalHold]:
        rows = await self._pool.fetch(
            """SELECT * FROM automation_holds WHERE $1 OR lifted_at IS NULL
               ORDER BY created_at DESC""",
            include_lifted,
        )
        return [_hold(r) for r in rows]

    async def hold(self, hold_id: str) -> GlobalHold | None:
        row = await self._pool.fetchrow("SELECT * FROM automation_holds WHERE id = $1", hold_id)
        return None if row is None else _hold(row)

    async def create_hold(self, reason: str, by: str, now: float) -> GlobalHold:
        hold_id = f"hold_{uuid.uuid4().hex[:12]}"
        await self._pool.execute(
            """INSERT INTO automation_holds (id, reason, created_by, created_at)
               VALUES ($1, $2, $3, $4)""",
            hold_id,
            reason,
            by,
            moment(now),
        )
        return GlobalHold(hold_id, reason, by, now)

    async def lift_hold(self, hold_id: str, by: str, now: float) -> GlobalHold | None:
        """Lift a standing hold (None: no such hold, or lifted already)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE automation_holds SET lifted_at = $2, lifted_by = $3
                   WHERE id = $1 AND lifted_at IS NULL RETURNING *""",
                hold_id,
                moment(now),
                by,
            )
            await conn.execute(_WAKE_HELD, moment(now))
        return None if row is None else _hold(row)
