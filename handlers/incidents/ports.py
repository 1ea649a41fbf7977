"""The storage port of stages 3–4 (its asyncpg adapter is ``app.storage.incidents``).

One ``IncidentTx`` is one database transaction: everything an incident step writes (the
incident, its timeline, outbox actions, timers, lifecycle events, a rollback request) lands
together or not at all. Lock order is always incident → timer → rollback, so workers never
deadlock: a worker locks the incident first, then claims what hangs off it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from handlers.incidents.classify import Cascade
from handlers.incidents.effects import Effects, TimelineEntry, TimerKind
from handlers.incidents.incident import Incident
from handlers.readiness.verdict import CheckedVersion, GateVerdict
from handlers.rollback.phases import ActionStatus, PhaseRecord, Rollback
from handlers.rollback.restore import Backup
from schemas.decisions import Decision
from schemas.panes import BackupRecord, RestoreTestRecord
from schemas.slo import SloBudget

__all__ = ["DueTimer", "IncidentStore", "IncidentTx", "Recorded"]


@dataclass(frozen=True)
class Recorded:
    """What ``record`` did with a rollback request: started it, or why not."""

    rollback_id: str | None = None
    rollback_blocked: str | None = None


@dataclass(frozen=True)
class DueTimer:
    id: int
    incident_id: str
    kind: TimerKind
    due_at: float


class IncidentTx(Protocol):
    # decisions
    async def remember_decision(self, decision: Decision, now: float) -> bool:
        """Log the decision; False when it was seen before (re-delivery)."""
        ...

    async def link_decision(self, decision_id: str, incident_id: str) -> None: ...

    async def latest_decision(self, fingerprint: str) -> tuple[Decision, str | None] | None:
        """The alert's latest decision logged, and the incident it was applied to (if any)."""
        ...

    # ``drill``: a DR drill's copy of the service, which shares nothing with the real one.
    async def lock_service(self, service: str, drill: str | None = None) -> None:
        """Serialise incident creation per service across workers (transaction-scoped)."""
        ...

    async def cascade(self, since: float, drill: str | None = None) -> Cascade: ...

    async def previous_deploy(
        self, service: str, bad_version: str, drill: str | None = None
    ) -> str | None:
        """The newest other version whose deploy succeeded before ``bad_version``'s and that
        was never failed or rolled back (``handlers.incidents.target``); a drill's deploy
        history is the drill's own."""
        ...

    async def record_deploy(
        self, service: str, version: str, status: str, at: float, drill: str | None = None
    ) -> None: ...

    async def record_slo_budget(self, budget: SloBudget) -> None:
        """Keep ``budget`` unless a later report of its SLO and scope is there already."""
        ...

    # the readiness gate
    async def readiness_check(
        self, service: str, version: str, before: float
    ) -> CheckedVersion | None:
        """The latest readiness check of ``version`` run at or before ``before``."""
        ...

    async def record_gate(self, verdict: GateVerdict) -> GateVerdict:
        """Keep the gate's verdict on a deploy; the one on record if there was one already."""
        ...

    async def unready_deploy(self, service: str, version: str) -> GateVerdict | None:
        """The latest deploy of ``version`` that went out while not ready, if any."""
        ...

    # backups
    async def record_backup(
        self, service: str, dataset: str, backup: BackupRecord, drill: str | None = None
    ) -> None:
        """Keep the backup (a later report of the same backup id replaces an earlier one); a
        DR drill's (``drill``) in the drill's own catalogue."""
        ...

    async def record_restore_test(
        self, service: str, dataset: str, test: RestoreTestRecord, drill: str | None = None
    ) -> None: ...

    async def datasets(self, service: str, drill: str | None = None) -> list[str]:
        """The datasets ``service`` has backups of on record (in ``drill``'s catalogue)."""
        ...

    async def restore_candidates(
        self, service: str, before: float, drill: str | None = None
    ) -> list[Backup]:
        """The service's successful backups, with their restore tests' verdict: for each
        dataset the newest ones taken before ``before`` and the newest one taken after."""
        ...

    # incidents
    async def open_incident(
        self, service: str, dry_run: bool = False, drill: str | None = None
    ) -> Incident | None:
        """The service's latest unresolved incident, locked (a dry run's have their own, and
        so do a drill's)."""
        ...

    async def incident(self, incident_id: str) -> Incident | None:
        """One incident, locked."""
        ...

    async def record(self, before: Incident | None, effects: Effects, now: float) -> Recorded: ...

    async def note(self, incident_id: str, entry: TimelineEntry, now: float) -> None: ...

    # timers
    async def claim_timer(self, timer_id: int) -> DueTimer | None:
        """The timer if nobody fired or claimed it yet (FOR UPDATE SKIP LOCKED)."""
        ...

    async def mark_fired(self, timer_id: int, now: float, outcome: str) -> None: ...

    # rollbacks
    async def rollback(self, rollback_id: str) -> Rollback | None: ...

    async def claim_rollback(self, owner: str, now: float, lease_s: float) -> Rollback | None:
        """A rollback that needs a worker (new, or its worker's lease ran out), leased to us."""
        ...

    async def renew_lease(
        self, rollback_id: str, owner: str, now: float, lease_s: float
    ) -> bool: ...

    async def start_phase(
        self, rb: Rollback, record: PhaseRecord, budget: tuple[float, float]
    ) -> None:
        """Record that ``record.phase`` started (once: a second start of it is ignored)."""
        ...

    async def emergency_rollbacks_short_of_resume(self, rb: Rollback) -> list[str]:
        """Services of the other active emergency rollbacks that have not reached resume.
        Serialised across workers (the platform breaker's last resume closes it)."""
        ...

    async def end_phase(self, rb: Rollback, record: PhaseRecord, now: float) -> None: ...

    async def failed_actions(self, keys: list[str]) -> dict[str, bool]:
        """Of ``keys``, the failed actions → whether the receiver refused (not retryable)."""
        ...

    async def requeue_actions(self, keys: list[str], now: float) -> None:
        """Send these failed actions again, under the same keys, with fresh attempts."""
        ...

    async def retry_phase(self, rb: Rollback, record: PhaseRecord) -> None:
        """Record that ``record.phase`` began attempt ``record.attempt`` (still running)."""
        ...

    async def end_rollback(self, rb: Rollback, ok: bool, outcome: str, now: float) -> None: ...

    async def action_statuses(self, keys: list[str]) -> dict[str, ActionStatus]: ...

    async def wake_held(self, incident_id: str | None, now: float) -> None:
        """Held control calls (of one incident, or every one) look at their holds again now."""
        ...


class IncidentStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[IncidentTx]: ...

    async def due_timers(self, now: float, limit: int) -> list[DueTimer]:
        """Candidates only (not locked): the firing transaction claims each one."""
        ...

    async def next_timer_at(self) -> float | None:
        """When the earliest timer not fired yet is due (None: there is none)."""
        ...
