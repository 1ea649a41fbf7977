"""What the API does with drills: start one, read it with its report, abort it, debrief it."""

from __future__ import annotations

import uuid
from typing import Any

from app.drills.report import build_report, report_markdown
from app.drills.store import PgDrillStore
from app.settings import DrillSettings
from handlers.config import ResponseConfig
from handlers.incidents.commands import IncidentCommands
from handlers.incidents.lifecycle import LifecycleError
from schemas.clock import Clock

__all__ = ["DrillControl", "new_drill_id"]


def new_drill_id() -> str:
    return f"drill_{uuid.uuid4().hex[:10]}"


class DrillControl:
    def __init__(
        self,
        store: PgDrillStore,
        commands: IncidentCommands,
        cfg: DrillSettings,
        response_cfg: ResponseConfig,
        clock: Clock,
    ) -> None:
        self.store = store
        self._commands = commands
        self._cfg = cfg
        self._response_cfg = response_cfg
        self._clock = clock

    async def start(
        self, scenario: str, service: str | None, live: bool, by: str
    ) -> dict[str, Any]:
        drill = {
            "id": new_drill_id(),
            "scenario": scenario,
            "service": service,
            "live": live,
            "started_by": by,
            "compress": self._cfg.compress,
        }
        return await self.store.create(drill, self._clock.now())

    async def schedule(self) -> dict[str, Any]:
        """The plan's monthly drill: when the last one finished and whether one is overdue."""
        last = await self.store.last_finished_at()
        due = None if last is None else last + self._cfg.schedule_days * 86400
        return {
            "every_days": self._cfg.schedule_days,
            "last_finished_at": last,
            "due_at": due,
            "overdue": due is None or self._clock.now() > due,
        }

    async def show(self, drill_id: str) -> dict[str, Any]:
        """The drill with its report: the stored one once it ended, else as it stands now."""
        drill = await self.store.get(drill_id)
        if drill["report"] is None:
            drill["report"] = await self.current_report(drill)
        drill["debrief_edits"] = await self.store.edits(f"drill:{drill_id}")
        return drill

    async def current_report(self, drill: dict[str, Any]) -> dict[str, Any]:
        incidents = await self.store.incidents(drill["id"])
        first = await self.store.first_decision_at(drill["id"])
        return build_report(drill, incidents, first, self._response_cfg)

    async def markdown(self, drill_id: str) -> str:
        drill = await self.show(drill_id)
        return report_markdown(drill["report"], drill["debrief"])

    async def abort(self, drill_id: str, by: str) -> dict[str, Any]:
        """Stop the traffic, end the drill's rollbacks and cancel its control calls, close
        its incidents and its timers; says what it did."""
        await self.store.get(drill_id)
        now = self._clock.now()
        stopped = await self.store.mark_aborted(drill_id, by, now)
        rollbacks = await self.store.end_rollbacks(drill_id, now)
        closed = []
        for incident_id in await self.store.open_incidents(drill_id):
            try:
                await self._commands.resolve(incident_id, by, f"drill {drill_id} aborted")
            except LifecycleError:
                continue  # resolved meanwhile
            closed.append(incident_id)
        timers = await self.store.cancel_timers(drill_id, self._clock.now())
        drill = await self.store.get(drill_id)
        message = (
            f"drill {drill_id} aborted by {by}: traffic stopped, "
            f"{len(closed)} incident(s) closed, {len(rollbacks)} rollback(s) ended, "
            f"{timers} timer(s) cancelled"
            if stopped
            else f"drill {drill_id} had already ended ({drill['status']}); "
            f"{len(closed)} incident(s) closed"
        )
        return {
            "drill": drill_id,
            "status": drill["status"],
            "closed_incidents": closed,
            "ended_rollbacks": rollbacks,
            "cancelled_timers": timers,
            "message": message,
        }

    async def debrief(self, drill_id: str, fields: dict[str, Any], by: str) -> dict[str, Any]:
        return await self.store.edit_debrief(drill_id, fields, by, self._clock.now())
