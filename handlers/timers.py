"""Durable timers: the HIGH investigation window and the escalation clock, fired once each.

Candidates are read without locks; each is fired in its own transaction that locks the
incident, then claims the timer ``FOR UPDATE SKIP LOCKED`` (skipping it if another worker has
it or it fired already), applies the pure decision and marks it fired — so across restarts
and several workers a timer's effects are recorded exactly once. Between rounds the worker
sleeps until the next timer is due (at most ``timers_poll_s``), and a new timer wakes it.
"""

from __future__ import annotations

from handlers.config import ResponseConfig
from handlers.escalation import on_escalation
from handlers.incidents.effects import Effects
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import investigation_expired
from handlers.incidents.ports import DueTimer, IncidentStore
from handlers.incidents.target import settle_target
from handlers.service import LoopService
from schemas.clock import Clock

__all__ = ["TimerWorker", "timer_effects"]


def timer_effects(
    timer: DueTimer, incident: Incident, now: float, cfg: ResponseConfig
) -> tuple[Effects, str]:
    """What firing ``timer`` means for ``incident`` now, and why (recorded on the timer row)."""
    if timer.kind == "investigation":
        effects, reason = investigation_expired(incident, now, cfg)
        return effects, reason.value
    effects = on_escalation(incident, now, cfg)
    done = sorted(effects.incident.steps - incident.steps)
    return effects, ("did " + ", ".join(done)) if done else "nothing due"


class TimerWorker(LoopService):
    name = "timers"

    def __init__(
        self, store: IncidentStore, cfg: ResponseConfig, clock: Clock, batch: int = 50
    ) -> None:
        super().__init__(clock, cfg.timers_poll_s)
        self._store = store
        self._cfg = cfg
        self._batch = batch
        self._next_at: float | None = None
        self.fired = 0

    async def tick(self) -> bool:
        due = await self._store.due_timers(self.clock.now(), self._batch)
        for timer in due:
            await self.fire(timer)
        if not due:
            self._next_at = await self._store.next_timer_at()
        return bool(due)

    def idle_for(self) -> float:
        """Until the next timer is due, polling at least every ``timers_poll_s``."""
        if self._next_at is None:
            return self.idle_s
        return min(self.idle_s, max(0.0, self._next_at - self.clock.now()))

    async def fire(self, timer: DueTimer) -> bool:
        """Fire one timer if nobody else has; True when this worker fired it."""
        now = self.clock.now()
        async with self._store.transaction() as tx:
            incident = await tx.incident(timer.incident_id)
            claimed = await tx.claim_timer(timer.id)
            if incident is None or claimed is None:
                return False
            incident = await settle_target(tx, incident)
            effects, outcome = timer_effects(claimed, incident, now, self._cfg)
            await tx.record(incident, effects, now)
            await tx.mark_fired(timer.id, now, outcome)
        self.fired += 1
        return True
