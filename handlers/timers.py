"""Durable timers: the HIGH investigation window, the escalation clock and the re-arm grace,
fired once each.

Candidates are read without locks; each is fired in its own transaction that locks the
incident, then claims the timer ``FOR UPDATE SKIP LOCKED`` (skipping it if another worker has
it or it fired already), applies the pure decision and marks it fired — so across restarts
and several workers a timer's effects are recorded exactly once. Between rounds the worker
sleeps until the next timer is due (at most ``timers_poll_s``), and a new timer wakes it. The
``rearm`` timer of an incident resolved by hand while its alerts fired re-delivers, in that same
transaction, the latest decision of each alert that still breaches (``handlers.incidents.rearm``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.config import ResponseConfig
from handlers.escalation import on_escalation
from handlers.incidents.effects import Effects, TimelineEntry
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import investigation_expired
from handlers.incidents.ports import DueTimer, IncidentStore, IncidentTx
from handlers.incidents.rearm import RearmReason, rearmed_alerts, redelivery
from handlers.incidents.target import settle_target
from handlers.service import LoopService
from schemas.clock import Clock
from schemas.decisions import Decision

__all__ = ["Redeliver", "TimerWorker", "timer_effects"]

# Applies one decision inside the caller's transaction (``DecisionApplier.apply_in``).
Redeliver = Callable[[IncidentTx, Decision, float], Awaitable[str]]


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
        self,
        store: IncidentStore,
        cfg: ResponseConfig,
        clock: Clock,
        batch: int = 50,
        *,
        redeliver: Redeliver | None = None,
    ) -> None:
        super().__init__(clock, cfg.timers_poll_s)
        self._store = store
        self._cfg = cfg
        self._batch = batch
        self._next_at: float | None = None
        self._redeliver = redeliver
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
            if claimed.kind == "rearm":
                outcome = await self._rearm(tx, incident, now)
            else:
                incident = await settle_target(tx, incident)
                effects, outcome = timer_effects(claimed, incident, now, self._cfg)
                await tx.record(incident, effects, now)
            await tx.mark_fired(timer.id, now, outcome)
        self.fired += 1
        return True

    async def _rearm(self, tx: IncidentTx, resolved: Incident, now: float) -> str:
        """The grace after a resolution by hand ended: each re-armed alert that still breaches
        is delivered again, as a breach (a new incident); each outcome on the timeline."""
        outcomes: list[str] = []
        for alert in rearmed_alerts(resolved):
            found = await tx.latest_decision(alert.fingerprint)
            latest, holder = found if found is not None else (None, None)
            again, reason = redelivery(resolved, latest, holder, now, self._cfg)
            result: dict[str, str] = {}
            if again is not None and self._redeliver is not None:
                await self._redeliver(tx, again, now)
                applied = await tx.latest_decision(alert.fingerprint)
                result = {"incident": applied[1] or ""} if applied is not None else {}
            note = TimelineEntry(
                "timer", f"re-arm grace ended for {alert.rule}", reason=reason, result=result
            )
            await tx.note(resolved.id, note, now)
            outcomes.append(f"{alert.rule}: {reason.value}")
        if not outcomes:
            return RearmReason.NOT_BREACHING.value
        return "; ".join(outcomes)
