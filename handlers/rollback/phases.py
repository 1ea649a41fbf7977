"""The rollback procedure as a pure state machine.

    prepare → revert_code → restore_data (data incidents only) → verify → resume

``next_step(rollback, actions, now, cfg)`` looks at the durable rollback (which phases ran,
when) and the outbox state of the current phase's actions, and says what to do next and why.
Each phase's actions have fixed idempotency keys, so starting a phase again after a crash
re-sends the same effects instead of new ones. Only control calls (breaker, rollback,
restore, bot restart) gate a phase; its notices (``phase_notices``: "rollback initiated" in
chat) are side effects queued with it and never waited on — a chat outage must not abort a
rollback, and a notice that failed is on the timeline like any other. A phase whose control
call failed (after the outbox's delivery retries), or a verify that ran out of time, is tried
again as many times as ``rollback.phase_retries`` says — a new attempt that sends the failed
calls again (under the same idempotency key when the receiver may have acted, a new one when
it refused) — and then fails the rollback: breakers stay open and the incident escalates; the
procedure is never looped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from handlers.config import RollbackConfig
from handlers.incidents import notices
from handlers.incidents.effects import ActionIntent
from handlers.incidents.incident import Incident

__all__ = [
    "ActionStatus",
    "Phase",
    "PhaseRecord",
    "RetryPlan",
    "Rollback",
    "RollbackStep",
    "StepKind",
    "attempt_actions",
    "budget",
    "closes_breaker",
    "failed",
    "next_step",
    "phase_actions",
    "phase_notices",
    "phase_plan",
    "restore_point",
    "retry_plan",
    "verify_step",
]

ActionStatus = Literal["pending", "sending", "sent", "failed", "muted", "inhibited"]
RollbackStatus = Literal["requested", "running", "succeeded", "failed"]
PhaseStatus = Literal["running", "succeeded", "failed", "skipped"]
StepKind = Literal["start", "skip", "wait", "probe", "finish", "retry", "fail", "complete", "done"]


class Phase(StrEnum):
    PREPARE = "prepare"
    REVERT_CODE = "revert_code"
    RESTORE_DATA = "restore_data"
    VERIFY = "verify"
    RESUME = "resume"


ORDER = tuple(Phase)


@dataclass(frozen=True)
class PhaseRecord:
    phase: Phase
    status: PhaseStatus
    started_at: float
    finished_at: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    attempt_started_at: float | None = None

    @property
    def attempt_start(self) -> float:
        """When the current attempt began (the phase's start for the first one)."""
        return self.started_at if self.attempt_started_at is None else self.attempt_started_at


@dataclass(frozen=True)
class Rollback:
    id: str
    incident_id: str
    service: str
    reason: str
    status: RollbackStatus
    requested_at: float
    from_version: str | None = None
    target_version: str | None = None
    target_basis: str | None = None  # why that version (``handlers.incidents.target``)
    involves_data: bool = False
    emergency: bool = False
    capacity: float | None = None
    phases: Mapping[Phase, PhaseRecord] = field(default_factory=dict)
    restore_before: float | None = None  # data rollbacks: the backup must predate this
    restore_basis: str | None = None  # why that moment (see ``restore_point``)


@dataclass(frozen=True)
class RollbackStep:
    kind: StepKind
    reason: str
    phase: Phase | None = None


def restore_point(
    inc: Incident, bad_deploy_started: float | None, requested_at: float
) -> tuple[float, str]:
    """The moment the restored backup must predate, and why. Corruption can be no older than
    the deploy of the bad version, so a backup from before it started is the last good one;
    with no such deploy on record, the start of the earliest window an alert fired on is the
    first evidence of trouble. Never the rollback request: corruption began before it was
    detected, and a backup taken in between would restore corrupt data."""
    if bad_deploy_started is not None:
        why = f"the deploy of {inc.bad_version} started"
        return min(bad_deploy_started, requested_at), why
    first = inc.first_evidence_at
    if first is not None:
        return min(first, requested_at), "the first alert's window started"
    return requested_at, "no deploy or alert window on record: the rollback request"


def budget(phase: Phase, cfg: RollbackConfig) -> tuple[float, float]:
    """The plan's time for a phase, as (expected at least, at most) seconds."""
    return {
        Phase.PREPARE: (0.0, cfg.prepare_budget_s),
        Phase.REVERT_CODE: (0.0, cfg.revert_code_budget_s),
        Phase.RESTORE_DATA: (cfg.restore_data_min_s, cfg.restore_data_budget_s),
        Phase.VERIFY: (cfg.verify_min_s, cfg.verify_budget_s),
        Phase.RESUME: (0.0, cfg.resume_budget_s),
    }[phase]


def phase_plan(rb: Rollback) -> list[tuple[Phase, str | None]]:
    """Every phase with the reason it is skipped (None: it runs)."""
    skip: dict[Phase, str] = {}
    if not rb.involves_data:
        skip[Phase.RESTORE_DATA] = "the incident does not involve data"
    if rb.target_version is not None and rb.target_version == rb.from_version:
        skip[Phase.REVERT_CODE] = f"already running the last known good version {rb.target_version}"
    elif rb.involves_data and rb.target_version is None:
        skip[Phase.REVERT_CODE] = "no last known good version; data restore only"
    elif rb.emergency and rb.target_version is None:
        # S4 stops every service; one that was not deployed has nothing to revert.
        skip[Phase.REVERT_CODE] = "emergency stop of a service with no newer version to revert"
    return [(phase, skip.get(phase)) for phase in ORDER]


def _breaker_target(rb: Rollback) -> str:
    return notices.ALL_TARGETS if rb.emergency else rb.service


def attempt_actions(
    rb: Rollback, phase: Phase, inc: Incident, record: PhaseRecord | None
) -> list[ActionIntent]:
    """The phase's calls as its current attempt sends them: a retry that re-sent a refused
    call gave it a key of its own (``<key>#<attempt>``, kept in the record's ``keys``)."""
    keys: Mapping[str, str] = record.detail.get("keys", {}) if record is not None else {}
    return [replace(a, key=keys.get(a.key, a.key)) for a in phase_actions(rb, phase, inc)]


@dataclass(frozen=True)
class RetryPlan:
    """What a phase's next attempt sends: failed calls whose receiver may have acted go out
    again under their own key (``requeue``: a receiver that did act dedups them); calls it
    refused (not retryable) go out as new requests (``resend``, new keys)."""

    attempt: int
    requeue: tuple[str, ...]
    resend: tuple[ActionIntent, ...]
    keys: Mapping[str, str]


def retry_plan(
    rb: Rollback,
    inc: Incident,
    record: PhaseRecord,
    failures: Mapping[str, bool],
) -> RetryPlan:
    """``failures``: the current attempt's failed keys → whether the receiver refused it."""
    attempt = record.attempt + 1
    keys = dict(record.detail.get("keys", {}))
    requeue: list[str] = []
    resend: list[ActionIntent] = []
    for first, now in zip(
        phase_actions(rb, record.phase, inc),
        attempt_actions(rb, record.phase, inc, record),
        strict=True,
    ):
        if now.key not in failures:
            continue
        if failures[now.key]:
            keys[first.key] = f"{first.key}#{attempt}"
            resend.append(replace(first, key=keys[first.key]))
        else:
            requeue.append(now.key)
    return RetryPlan(attempt, tuple(requeue), tuple(resend), keys)


def phase_notices(rb: Rollback, phase: Phase, inc: Incident) -> list[ActionIntent]:
    """The notifications a phase sends when it starts. Never part of its outcome: the phase
    does not wait for them, and their failure does not fail it."""
    if phase is Phase.PREPARE:
        text = f"Rollback initiated for {rb.service} ({inc.id}): {rb.reason}"
        return [notices.chat(inc, "rollback_initiated", text)]
    return []


def phase_actions(rb: Rollback, phase: Phase, inc: Incident) -> list[ActionIntent]:
    """The control calls a phase makes and waits for, under their first attempt's keys. Keys
    are shared with the manager's immediate response, so a breaker opened at detection is not
    opened a second time by ``prepare``."""
    if phase is Phase.PREPARE:
        found = [notices.breaker(inc, "open", _breaker_target(rb))]
        if rb.involves_data:
            found += [
                notices.bot_action(inc, "stop"),
                notices.breaker(inc, "open", f"{rb.service}/data"),
            ]
        return found
    if phase is Phase.REVERT_CODE:
        return [notices.rollback_call(inc, rb.from_version, rb.target_version or "")]
    if phase is Phase.RESTORE_DATA:
        before = rb.requested_at if rb.restore_before is None else rb.restore_before
        return [notices.restore_call(inc, "restore", before, rb.restore_basis)]
    if phase is Phase.VERIFY:
        return [notices.restore_call(inc, "integrity_check")] if rb.involves_data else []
    found = (
        [notices.breaker(inc, "close", _breaker_target(rb), capacity=rb.capacity)]
        if closes_breaker(rb)
        else []
    )
    if rb.involves_data:
        found += [
            notices.breaker(inc, "close", f"{rb.service}/data"),
            notices.bot_action(inc, "start"),
        ]
    return found


def closes_breaker(rb: Rollback) -> bool:
    """Whether resume closes the breaker. An emergency rollback shares the platform breaker
    (``*``) with the other services' emergency rollbacks: only the last of them to reach resume
    closes it (the orchestrator records which one that is when resume starts)."""
    record = rb.phases.get(Phase.RESUME)
    return not rb.emergency or record is None or bool(record.detail.get("close_platform", True))


def _waiting_on(statuses: Sequence[ActionStatus]) -> bool:
    return any(s in ("pending", "sending") for s in statuses)


def next_step(
    rb: Rollback, actions: Mapping[str, ActionStatus], now: float, cfg: RollbackConfig
) -> RollbackStep:
    """What to do next. ``actions`` holds the outbox status of the current phase's action keys."""
    if rb.status in ("succeeded", "failed"):
        return RollbackStep("done", f"rollback {rb.status}")
    for phase, skip in phase_plan(rb):
        record = rb.phases.get(phase)
        if record is not None and record.status in ("succeeded", "skipped"):
            continue
        if record is not None and record.status == "failed":
            return RollbackStep("fail", f"{phase.value} failed", phase)
        if record is None:
            return _begin(rb, phase, skip)
        return _progress(phase, record, list(actions.values()), now, cfg)
    return RollbackStep("complete", "every phase done")


def _begin(rb: Rollback, phase: Phase, skip: str | None) -> RollbackStep:
    if skip is not None:
        return RollbackStep("skip", skip, phase)
    if phase is Phase.REVERT_CODE and rb.target_version is None:
        return RollbackStep("fail", "no last known good version to roll back to", phase)
    return RollbackStep("start", f"{phase.value} begins", phase)


def _progress(
    phase: Phase, record: PhaseRecord, statuses: list[ActionStatus], now: float, cfg: RollbackConfig
) -> RollbackStep:
    if "failed" in statuses:
        reason = f"a receiver of {phase.value} failed after its delivery retries"
        return failed(record, reason, cfg)
    if _waiting_on(statuses):
        return RollbackStep("wait", f"{phase.value}: waiting for receivers", phase)
    if phase is Phase.VERIFY:
        return RollbackStep("probe", "verify: watch live windows against the baseline", phase)
    return RollbackStep("finish", f"{phase.value}: every receiver answered", phase)


def failed(record: PhaseRecord, reason: str, cfg: RollbackConfig) -> RollbackStep:
    """A phase attempt failed: try again while the policy allows, then fail the rollback."""
    allowed = cfg.phase_retries.attempts(record.phase.value)
    tried = f"attempt {record.attempt} of {allowed}"
    if record.attempt < allowed:
        return RollbackStep("retry", f"{reason} ({tried}); trying again", record.phase)
    return RollbackStep("fail", f"{reason} ({tried})", record.phase)


def verify_step(
    record: PhaseRecord, healthy: bool, now: float, cfg: RollbackConfig
) -> RollbackStep:
    """After a health probe: done when healthy; the attempt failed once its budget is spent."""
    if healthy:
        return RollbackStep("finish", "back under the baseline", Phase.VERIFY)
    if now - record.attempt_start >= cfg.verify_budget_s:
        return failed(record, f"not back under the baseline within {cfg.verify_budget_s:g} s", cfg)
    return RollbackStep("wait", "not yet back under the baseline", Phase.VERIFY)
