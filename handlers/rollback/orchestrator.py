"""The rollback orchestrator: drives each rollback through its phases from durable state.

A worker claims a rollback with a lease (``rollback.lease_s``) and renews it at every step; a
worker killed mid-rollback leaves a lease that runs out, and the next claim resumes where the
database says it was. Each step is one transaction that locks the incident, asks the pure
``next_step`` what to do and records it: a phase's actions go to the outbox under fixed
idempotency keys (so resuming re-sends, never doubles), and each phase's real duration is
recorded against the plan's budget. At most one rollback per service runs at a time (a partial
unique index), one per incident ever. No phase starts while the incident's automation is held
(docs/design.md record 29). It wakes on notifications (``wake``, ``settled``), with
``rollback.poll_s`` as the fallback (record 26). The restore phase picks a real backup per
dataset and records the data lost against the RPO and its duration against the RTO
(docs/response.md, design.md record 43).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import uuid
from dataclasses import replace
from typing import Any

from handlers.config import ResponseConfig, RollbackConfig
from handlers.holds import HoldSource, holding
from handlers.incidents import notices
from handlers.incidents.effects import Effects, EventIntent, TimelineEntry
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import rollback_finished
from handlers.incidents.ports import IncidentStore, IncidentTx
from handlers.rollback.health import HealthProbe
from handlers.rollback.phases import (
    AttemptFailure,
    Phase,
    PhaseRecord,
    Rollback,
    RollbackStep,
    attempt_actions,
    budget,
    next_step,
    phase_actions,
    phase_notices,
    phase_plan,
    retry_plan,
    verify_step,
)
from handlers.rollback.restore import (
    Objectives,
    RestorePlan,
    RtoCheck,
    affected_datasets,
    plan_restore,
    restore_times,
)
from handlers.service import LoopService, Signal, sleep_or_wake
from schemas.clock import Clock

__all__ = ["RollbackOrchestrator"]

log = logging.getLogger(__name__)


def _current_phase(rb: Rollback) -> Phase | None:
    for phase, _ in phase_plan(rb):
        record = rb.phases.get(phase)
        if record is None or record.status not in ("succeeded", "skipped"):
            return phase
    return None


def _phase_event(phase: Phase, status: str, detail: dict[str, Any]) -> EventIntent:
    return EventIntent("rollback_phase", {"phase": phase, "status": status, **detail})


class RollbackOrchestrator(LoopService):
    name = "rollback-orchestrator"

    def __init__(
        self,
        store: IncidentStore,
        probe: HealthProbe,
        cfg: RollbackConfig,
        response_cfg: ResponseConfig,
        clock: Clock,
        *,
        owner: str | None = None,
        holds: HoldSource | None = None,
        objectives: Objectives | None = None,
    ) -> None:
        super().__init__(clock, cfg.poll_s)
        self._store = store
        self._probe = probe
        self._cfg = cfg
        self._response_cfg = response_cfg
        self._holds = holds
        self._objectives = objectives or Objectives()
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._running: dict[str, asyncio.Task[None]] = {}
        self._settled = Signal()
        self.finished: list[str] = []

    def settled(self) -> None:
        """An outbox action was settled: rollbacks waiting for control calls look again."""
        self._settled.fire()

    async def tick(self) -> bool:
        now = self.clock.now()
        async with self._store.transaction() as tx:
            rb = await tx.claim_rollback(self.owner, now, self._cfg.lease_s)
        if rb is None:
            return False
        log.info("rollback %s of %s claimed by %s", rb.id, rb.service, self.owner)
        task = asyncio.create_task(self.drive(rb.id), name=f"rollback {rb.id}")
        self._running[rb.id] = task
        task.add_done_callback(functools.partial(self._forget, rb.id))
        return True

    def _forget(self, rollback_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(rollback_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("rollback %s: worker failed: %r", rollback_id, task.exception())

    async def stop(self) -> None:
        await super().stop()
        for task in list(self._running.values()):
            task.cancel()
        for task in list(self._running.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def health(self) -> dict[str, Any]:
        return {**super().health(), "running": sorted(self._running), "owner": self.owner}

    async def drive(self, rollback_id: str) -> None:
        """Step until the rollback is over or the lease is lost."""
        while True:
            settled = self._settled.event  # taken before the step reads the calls' statuses
            step = await self._step(rollback_id)
            if step is None or step.kind in ("done", "complete", "fail"):
                self.finished.append(rollback_id)
                return
            if step.kind == "wait":
                await self._wait(step, settled)

    async def _wait(self, step: RollbackStep, settled: asyncio.Event) -> None:
        """Verify probes at its own pace; other phases wait for their control calls, so an
        action settled since the step looked ends the wait."""
        if step.phase == "verify":
            await self.clock.sleep(self._cfg.verify_every_s)
        else:
            await sleep_or_wake(self.clock, self._cfg.poll_s, settled)

    async def _step(self, rollback_id: str) -> RollbackStep | None:
        step = await self._decide_and_apply(rollback_id, None)
        if step is None or step.kind != "probe":
            return step
        service, since, drill = await self._verifying(rollback_id)
        if drill is None:
            healthy, evidence = await self._probe.is_healthy(service, since)
        else:  # a drill's rollback is verified on the drill's own panes
            healthy, evidence = await self._probe.is_healthy(service, since, drill=drill)
        return await self._decide_and_apply(rollback_id, (healthy, evidence))

    async def _verifying(self, rollback_id: str) -> tuple[str, float | None, str | None]:
        """The service, and when verify began: only traffic after the revert can pass it."""
        async with self._store.transaction() as tx:
            rb = await tx.rollback(rollback_id)
        assert rb is not None
        verify = rb.phases.get("verify")
        return rb.service, None if verify is None else verify.started_at, rb.drill

    async def _decide_and_apply(
        self, rollback_id: str, probed: tuple[bool, dict[str, Any]] | None
    ) -> RollbackStep | None:
        now = self.clock.now()
        async with self._store.transaction() as tx:
            first = await tx.rollback(rollback_id)
            if first is None:
                return None
            incident = await tx.incident(first.incident_id)  # lock order: incident first
            rb = await tx.rollback(rollback_id)
            if incident is None or rb is None:
                return None
            if rb.status == "running" and not await tx.renew_lease(
                rb.id, self.owner, now, self._cfg.lease_s
            ):
                log.warning("rollback %s: lease lost; another worker resumes it", rb.id)
                return None
            step = await self._next(tx, rb, incident, now, probed)
            held = await self._held(tx, incident, step, now)
            if held is not None:
                return held
            await self._apply(tx, rb, incident, step, now, probed)
            return step

    async def _held(
        self, tx: IncidentTx, incident: Incident, step: RollbackStep, now: float
    ) -> RollbackStep | None:
        """A phase does not start, nor start again, while the incident's automation is held
        (``handlers.holds``): the rollback waits, its phase budgets untouched, and says once
        per hold what holds it. A phase already running finishes; its held calls wait in
        the outbox."""
        if self._holds is None or step.kind not in ("start", "retry"):
            return None
        automation = await self._holds.automation(now)
        labels = notices.labels(incident)
        causes = holding(automation, incident.service, labels, incident.released, now)
        if not causes:
            return None
        fresh = [c for c in causes if not incident.done(f"held:{c.key}")]
        if fresh:
            note = TimelineEntry(
                "hold",
                f"rollback held before {step.phase} by {', '.join(c.describe() for c in fresh)}",
                reason="; ".join(c.reason for c in fresh),
                result={"holds": [c.key for c in fresh]},
            )
            after = incident.with_steps(*(f"held:{c.key}" for c in fresh))
            await tx.record(incident, Effects(after, timeline=(note,)), now)
        names = ", ".join(c.describe() for c in causes)
        return RollbackStep("wait", f"held by {names}", step.phase)

    async def _next(
        self,
        tx: IncidentTx,
        rb: Rollback,
        incident: Incident,
        now: float,
        probed: tuple[bool, dict[str, Any]] | None,
    ) -> RollbackStep:
        phase = _current_phase(rb)
        if probed is not None and phase == "verify":
            return verify_step(rb.phases["verify"], probed[0], now, self._cfg)
        record = rb.phases.get(phase) if phase else None
        keys = [a.key for a in attempt_actions(rb, phase, incident, record)] if phase else []
        statuses = await tx.action_statuses(keys) if phase in rb.phases else {}
        return next_step(rb, statuses, now, self._cfg)

    async def _apply(
        self,
        tx: IncidentTx,
        rb: Rollback,
        incident: Incident,
        step: RollbackStep,
        now: float,
        probed: tuple[bool, dict[str, Any]] | None,
    ) -> None:
        evidence = probed[1] if probed is not None else {}
        if step.kind == "start" and step.phase is not None:
            await self._start(tx, rb, incident, step.phase, now)
        elif step.kind == "skip" and step.phase is not None:
            await self._skip(tx, rb, incident, step, now)
        elif step.kind == "finish" and step.phase is not None:
            await self._finish(tx, rb, incident, step, now, evidence)
        elif step.kind == "retry" and step.phase is not None:
            await self._retry(tx, rb, incident, step, now, evidence)
        elif step.kind == "fail":
            await self._fail(tx, rb, incident, step, now, evidence)
        elif step.kind == "complete":
            await self._complete(tx, rb, incident, now)
        elif step.kind == "wait" and probed is not None:
            log.info("rollback %s verify: %s", rb.id, evidence.get("verdict"))

    async def _start(
        self, tx: IncidentTx, rb: Rollback, incident: Incident, phase: Phase, now: float
    ) -> None:
        low, high = budget(phase, self._cfg)
        record = PhaseRecord(phase, "running", now)
        notes = [
            TimelineEntry("rollback", f"phase {phase} started", reason=f"plan budget {high:g} s")
        ]
        if phase == "restore_data":
            plan = await self._restore_plan(tx, rb, incident)
            if not plan.ok:
                step = RollbackStep("fail", f"nothing to restore: {plan.reason()}", phase)
                evidence = {"restore_before": rb.restore_before, "restore_basis": rb.restore_basis}
                await self._fail(tx, rb, incident, step, now, evidence)
                return
            record = replace(record, backups=plan.chosen)
            notes += [
                TimelineEntry(
                    "rollback",
                    backup.summary(),
                    reason=backup.why,
                    evidence=backup.to_json(),
                )
                for backup in plan.chosen
            ]
        if phase == "resume" and rb.emergency:
            waiting = await tx.emergency_rollbacks_short_of_resume(rb)
            record = replace(record, detail={"waiting_for": waiting}, close_platform=not waiting)
            if waiting:
                why = f"emergency rollbacks of {', '.join(waiting)} have not reached resume"
                notes.append(
                    TimelineEntry(
                        "rollback",
                        "platform breaker stays open",
                        reason=f"{why}; the last closes it",
                    )
                )
        await tx.start_phase(rb, record, (low, high))
        rb = replace(rb, phases={**rb.phases, phase: record})
        after = replace(incident, rollback_status="running")
        effects = Effects(
            after,
            timeline=tuple(notes),
            actions=(*phase_notices(rb, phase, incident), *phase_actions(rb, phase, incident)),
            events=(_phase_event(phase, "started", _started_detail(high, record)),),
        )
        await tx.record(incident, effects, now)

    async def _restore_plan(self, tx: IncidentTx, rb: Rollback, incident: Incident) -> RestorePlan:
        """The backup of each dataset the incident affects, taken before the restore point."""
        before = rb.requested_at if rb.restore_before is None else rb.restore_before
        basis = rb.restore_basis or "the rollback request"
        known = await tx.datasets(rb.service, rb.drill)
        datasets = affected_datasets((a.scope for a in incident.alerts.values()), known)
        backups = await tx.restore_candidates(rb.service, before, rb.drill)
        return plan_restore(datasets, backups, before, basis, self._objectives)

    async def _skip(
        self, tx: IncidentTx, rb: Rollback, incident: Incident, step: RollbackStep, now: float
    ) -> None:
        assert step.phase is not None
        record = PhaseRecord(step.phase, "skipped", now, now, {"reason": step.reason})
        await tx.end_phase(rb, record, now)
        note = TimelineEntry("rollback", f"phase {step.phase} skipped", reason=step.reason)
        await tx.note(incident.id, note, now)

    async def _finish(
        self,
        tx: IncidentTx,
        rb: Rollback,
        incident: Incident,
        step: RollbackStep,
        now: float,
        evidence: dict[str, Any],
    ) -> None:
        assert step.phase is not None
        started = rb.phases[step.phase]
        low, high = budget(step.phase, self._cfg)
        took = now - started.started_at
        detail: dict[str, Any] = {
            **started.detail,
            "duration_s": round(took, 3),
            "budget_s": high,
            "over_budget": took > high,
            "attempts": started.attempt,
        }
        detail = {**detail, "budget_min_s": low, "evidence": evidence} if evidence else detail
        rto = restore_times(started.backups, took, self._objectives)
        if rto:
            detail["rto"] = [check.to_json() for check in rto]
        ended = replace(started, status="succeeded", detail=detail)
        await tx.end_phase(rb, ended, now)
        if step.phase == "revert_code" and rb.from_version:
            await tx.record_deploy(rb.service, rb.from_version, "rolled_back", now, rb.drill)
        over = " — over budget" if took > high else ""
        note = TimelineEntry(
            "rollback",
            f"phase {step.phase} done in {took:.1f} s (plan {high:g} s){over}",
            reason=step.reason,
            evidence=evidence,
            result=ended.stored_detail(),
        )
        notes = [note, *(_rto_note(check) for check in rto)]
        event = _phase_event(step.phase, "succeeded", {"duration_s": detail["duration_s"]})
        effects = Effects(incident, timeline=tuple(notes), events=(event,))
        await tx.record(incident, effects, now)

    async def _retry(
        self,
        tx: IncidentTx,
        rb: Rollback,
        incident: Incident,
        step: RollbackStep,
        now: float,
        evidence: dict[str, Any],
    ) -> None:
        """Start the phase's next attempt: its failed calls go out again (see ``retry_plan``);
        verify also gets a fresh budget."""
        assert step.phase is not None
        started = rb.phases[step.phase]
        current = [a.key for a in attempt_actions(rb, step.phase, incident, started)]
        failures = await tx.failed_actions(current)
        plan = retry_plan(rb, incident, started, failures)
        again = replace(
            started,
            attempt=plan.attempt,
            attempt_started_at=now,
            failures=(*started.failures, AttemptFailure(started.attempt, step.reason, now)),
            keys=plan.keys,
        )
        await tx.retry_phase(rb, again)
        await tx.requeue_actions(list(plan.requeue), now)
        sent_again = [*plan.requeue, *(a.key for a in plan.resend)]
        note = TimelineEntry(
            "rollback",
            f"phase {step.phase} attempt {started.attempt} failed; attempt {again.attempt}",
            reason=step.reason,
            evidence=evidence,
            result={"sent_again": sent_again},
        )
        detail = {"attempt": again.attempt, "reason": step.reason}
        effects = Effects(
            incident,
            timeline=(note,),
            actions=plan.resend,
            events=(_phase_event(step.phase, "retrying", detail),),
        )
        await tx.record(incident, effects, now)

    async def _fail(
        self,
        tx: IncidentTx,
        rb: Rollback,
        incident: Incident,
        step: RollbackStep,
        now: float,
        evidence: dict[str, Any],
    ) -> None:
        if step.phase is not None:
            started = rb.phases.get(step.phase) or PhaseRecord(step.phase, "failed", now)
            detail = {
                **started.detail,
                "reason": step.reason,
                "evidence": evidence,
                "attempts": started.attempt,
            }
            await tx.end_phase(rb, replace(started, status="failed", detail=detail), now)
        await tx.end_rollback(rb, False, step.reason, now)
        phase = step.phase or "rollback"
        event = _phase_event(step.phase or "prepare", "failed", {"reason": step.reason})
        # An emergency stop opened only the platform breaker, which another service's resume
        # may close: a service whose rollback failed keeps a breaker of its own open.
        own = (notices.breaker(incident, "open", rb.service),) if rb.emergency else ()
        effects = Effects(incident, actions=own, events=(event,))
        finished = rollback_finished(
            incident, False, f"{phase}: {step.reason}", now, self._response_cfg
        )
        await tx.record(incident, effects.then(finished), now)

    async def _complete(self, tx: IncidentTx, rb: Rollback, incident: Incident, now: float) -> None:
        await tx.end_rollback(rb, True, "every phase done", now)
        target = rb.target_version or "the restored data"
        effects = rollback_finished(incident, True, f"running {target}", now, self._response_cfg)
        rto = self._objectives.full_system_rto_s
        if rb.involves_data and rto is not None:
            took = now - rb.requested_at
            verdict = "within" if took <= rto else "BEYOND"
            note = TimelineEntry(
                "rollback",
                f"full system back in {notices.duration_text(round(took, 1))}: {verdict} "
                f"the RTO of {notices.duration_text(rto)}",
                result={"duration_s": round(took, 3), "rto_s": rto, "within_rto": took <= rto},
            )
            effects = Effects(incident, timeline=(note,)).then(effects)
        await tx.record(incident, effects, now)


def _started_detail(budget_s: float, record: PhaseRecord) -> dict[str, Any]:
    """What a phase's "started" event tells subscribers: its budget, and for a restore the
    backup of each dataset with the data it loses."""
    found: dict[str, Any] = {"budget_s": budget_s}
    if record.backups:
        found["backups"] = [
            {
                "dataset": b.dataset,
                "backup_id": b.backup_id,
                "loss_window_s": b.loss_window_s,
                "rpo_s": b.rpo_s,
                "within_rpo": b.within_rpo,
            }
            for b in record.backups
        ]
    return found


def _rto_note(check: RtoCheck) -> TimelineEntry:
    verdict = "within" if check.within_rto else "BEYOND"
    return TimelineEntry(
        "rollback",
        f"{check.dataset} restored in {notices.duration_text(round(check.duration_s, 1))}: "
        f"{verdict} its RTO of {notices.duration_text(check.rto_s)}",
        result=check.to_json(),
    )
