"""The rollback procedure as a pure state machine.

    prepare → revert_code → restore_data (data incidents only) → verify → resume

``next_step(rollback, actions, now, cfg)`` reads the durable rollback and the outbox state of
the current phase's actions and says what to do next and why. Fixed idempotency keys make a
phase started again after a crash re-send the same effects. Only control calls gate a phase;
its notices are never waited on, so a chat outage cannot abort a rollback. A failed phase is
retried as ``rollback.phase_retries`` says and then fails the rollback — never a loop
(docs/response.md, "The rollback"). Each phase is one row of ``SPECS``; the phases and their
retries are ``schemas.rollback``'s (docs/extending.md, "Adding a rollback phase").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from handlers.config import RollbackConfig
from handlers.incidents import notices
from handlers.incidents.effects import ActionIntent
from handlers.incidents.incident import Incident
from handlers.rollback.restore import ChosenBackup
from schemas.incidents import ActionStatus
from schemas.rollback import PHASES, PhaseStatus, RollbackPhase, RollbackStatus

__all__ = [
    "BUDGET_FIELDS",
    "PHASES",
    "SPECS",
    "ActionStatus",
    "AttemptFailure",
    "Phase",
    "PhaseRecord",
    "PhaseSpec",
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

StepKind = Literal["start", "skip", "wait", "probe", "finish", "retry", "fail", "complete", "done"]

Phase = RollbackPhase  # the phases, in order: ``PHASES`` (declared once, in schemas.rollback)


@dataclass(frozen=True)
class AttemptFailure:
    """Why an earlier attempt of a phase failed, and when."""

    attempt: int
    reason: str
    at: float


@dataclass(frozen=True)
class PhaseRecord:
    """A phase as it ran. ``detail`` holds what it reports (duration, evidence, reasons); the
    fields after it are what later steps read back. Both are stored in one JSON column, the
    fields under their own names (``stored_detail``), as they always were."""

    phase: Phase
    status: PhaseStatus
    started_at: float
    finished_at: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    attempt_started_at: float | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    """A call a retry sent as a new request: its first attempt's key → the key it went under."""
    failures: tuple[AttemptFailure, ...] = ()
    """The attempts that failed before the current one."""
    close_platform: bool | None = None
    """Emergency resume: whether this rollback closes the platform breaker (it is the last
    emergency rollback to reach resume). None: not decided, nothing to hold back."""
    backups: tuple[ChosenBackup, ...] = ()
    """Restore data: the backup of each dataset it restores, chosen when it started
    (``handlers.rollback.restore``), so every attempt asks for the same ones."""

    @property
    def attempt_start(self) -> float:
        """When the current attempt began (the phase's start for the first one)."""
        return self.started_at if self.attempt_started_at is None else self.attempt_started_at

    def stored_detail(self) -> dict[str, Any]:
        """``detail`` with the read-back fields in it, as stored and shown (API, timeline)."""
        found = dict(self.detail)
        if self.keys or self.failures:
            found["keys"] = dict(self.keys)
        if self.failures:
            found["failures"] = [
                {"attempt": f.attempt, "reason": f.reason, "at": f.at} for f in self.failures
            ]
        if self.close_platform is not None:
            found["close_platform"] = self.close_platform
        if self.backups:
            found["backups"] = [b.to_json() for b in self.backups]
        return found

    @classmethod
    def from_stored(
        cls,
        phase: Phase,
        status: PhaseStatus,
        started_at: float,
        finished_at: float | None,
        detail: Mapping[str, Any],
        attempt: int = 1,
        attempt_started_at: float | None = None,
    ) -> PhaseRecord:
        """The record whose ``stored_detail()`` is ``detail``."""
        notes = dict(detail)
        keys = dict(notes.pop("keys", {}))
        failures = tuple(AttemptFailure(**f) for f in notes.pop("failures", ()))
        close_platform = notes.pop("close_platform", None)
        backups = tuple(ChosenBackup.from_json(b) for b in notes.pop("backups", ()))
        return cls(
            phase,
            status,
            started_at,
            finished_at,
            notes,
            attempt,
            attempt_started_at,
            keys=keys,
            failures=failures,
            close_platform=close_platform,
            backups=backups,
        )


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
    drill: str | None = None  # a DR drill's rollback (of the drill's copy of the service)


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


# --- the phases, one row each ---------------------------------------------------------------
# Each phase's parts are small functions of the rollback (and its incident); ``SPECS`` puts
# them in one table keyed by ``RollbackPhase``. A phase that is never skipped, sends no notice
# or calls nothing leaves that column out.


def _never_skipped(rb: Rollback) -> str | None:
    return None


def _no_notices(rb: Rollback, inc: Incident) -> list[ActionIntent]:
    return []


def _breaker_target(rb: Rollback) -> str:
    return notices.ALL_TARGETS if rb.emergency else rb.service


def _prepare_notices(rb: Rollback, inc: Incident) -> list[ActionIntent]:
    text = f"Rollback initiated for {rb.service} ({inc.id}): {rb.reason}"
    return [notices.chat(inc, "rollback_initiated", text)]


def _prepare(rb: Rollback, inc: Incident) -> list[ActionIntent]:
    found = [notices.breaker(inc, "open", _breaker_target(rb))]
    if rb.involves_data:
        found += [
            notices.bot_action(inc, "stop"),
            notices.breaker(inc, "open", f"{rb.service}/data"),
        ]
    return found


def _revert_code_skipped(rb: Rollback) -> str | None:
    if rb.target_version is not None and rb.target_version == rb.from_version:
        return f"already running the last known good version {rb.target_version}"
    if rb.involves_data and rb.target_version is None:
        return "no last known good version; data restore only"
    if rb.emergency and rb.target_version is None:
        # S4 stops every service; one that was not deployed has nothing to revert.
        return "emergency stop of a service with no newer version to revert"
    return None


def _revert_code(rb: Rollback, inc: Incident) -> list[ActionIntent]:
    return [notices.rollback_call(inc, rb.from_version, rb.target_version or "")]


def _restore_data_skipped(rb: Rollback) -> str | None:
    return None if rb.involves_data else "the incident does not involve data"


def _restore_data(rb: Rollback, inc: Incident) -> list[ActionIntent]:
    """One restore per dataset, of the backup chosen when the phase started."""
    before = rb.requested_at if rb.restore_before is None else rb.restore_before
    record = rb.phases.get("restore_data")
    chosen = record.backups if record is not None else ()
    if not chosen:  # a phase started before backups were chosen: the receiver picks
        return [notices.restore_call(inc, "restore", before, rb.restore_basis)]
    return [notices.restore_call(inc, "restore", before, rb.restore_basis, b) for b in chosen]


def _verify(rb: Rollback, inc: Incident) -> list[ActionIntent]:
    return [notices.restore_call(inc, "integrity_check")] if rb.involves_data else []


def _resume(rb: Rollback, inc: Incident) -> list[ActionIntent]:
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


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of the plan's rollback procedure. Its retries after a failure are
    ``rollback.phase_retries.<phase>`` (``schemas.rollback.PhaseRetries``)."""

    budget: str
    """The ``RollbackConfig`` field with the plan's time for it, at most (seconds)."""
    actions: Callable[[Rollback, Incident], list[ActionIntent]]
    """The control calls it makes and waits for, under their first attempt's keys."""
    least: str | None = None
    """The ``RollbackConfig`` field with the time it is expected to take at least (None: 0)."""
    notices: Callable[[Rollback, Incident], list[ActionIntent]] = _no_notices
    """The notifications it sends when it starts, never waited on."""
    skipped: Callable[[Rollback], str | None] = _never_skipped
    """Why this rollback leaves it out (None: it runs)."""


SPECS: Mapping[Phase, PhaseSpec] = {
    "prepare": PhaseSpec("prepare_budget_s", _prepare, notices=_prepare_notices),
    "revert_code": PhaseSpec("revert_code_budget_s", _revert_code, skipped=_revert_code_skipped),
    "restore_data": PhaseSpec(
        "restore_data_budget_s",
        _restore_data,
        least="restore_data_min_s",
        skipped=_restore_data_skipped,
    ),
    "verify": PhaseSpec("verify_budget_s", _verify, least="verify_min_s"),
    "resume": PhaseSpec("resume_budget_s", _resume),
}

# Every RollbackConfig field that holds a phase's time (a drill compresses exactly these).
BUDGET_FIELDS: tuple[str, ...] = tuple(
    name for spec in SPECS.values() for name in (spec.least, spec.budget) if name is not None
)


def _check_specs() -> None:
    """At import: a row per phase, in the phases' order, naming budgets that exist."""
    if tuple(SPECS) != PHASES:
        raise TypeError(f"SPECS has rows {tuple(SPECS)}, expected one per phase: {PHASES}")
    unknown = [name for name in BUDGET_FIELDS if name not in RollbackConfig.model_fields]
    if unknown:
        raise TypeError(f"SPECS names budgets that RollbackConfig lacks: {', '.join(unknown)}")


_check_specs()


def budget(phase: Phase, cfg: RollbackConfig) -> tuple[float, float]:
    """The plan's time for a phase, as (expected at least, at most) seconds."""
    spec = SPECS[phase]
    least = 0.0 if spec.least is None else float(getattr(cfg, spec.least))
    return least, float(getattr(cfg, spec.budget))


def phase_plan(rb: Rollback) -> list[tuple[Phase, str | None]]:
    """Every phase with the reason it is skipped (None: it runs)."""
    return [(phase, SPECS[phase].skipped(rb)) for phase in PHASES]


def phase_notices(rb: Rollback, phase: Phase, inc: Incident) -> list[ActionIntent]:
    """The notifications a phase sends when it starts. Never part of its outcome: the phase
    does not wait for them, and their failure does not fail it."""
    return SPECS[phase].notices(rb, inc)


def phase_actions(rb: Rollback, phase: Phase, inc: Incident) -> list[ActionIntent]:
    """The control calls a phase makes and waits for, under their first attempt's keys. Keys
    are shared with the manager's immediate response, so a breaker opened at detection is not
    opened a second time by ``prepare``."""
    return SPECS[phase].actions(rb, inc)


def closes_breaker(rb: Rollback) -> bool:
    """Whether resume closes the breaker. An emergency rollback shares the platform breaker
    (``*``) with the other services' emergency rollbacks: only the last of them to reach resume
    closes it (the orchestrator records which one that is when resume starts)."""
    record = rb.phases.get("resume")
    return not rb.emergency or record is None or record.close_platform is not False


def attempt_actions(
    rb: Rollback, phase: Phase, inc: Incident, record: PhaseRecord | None
) -> list[ActionIntent]:
    """The phase's calls as its current attempt sends them: a retry that re-sent a refused
    call gave it a key of its own (``<key>#<attempt>``, kept in the record's ``keys``)."""
    keys: Mapping[str, str] = record.keys if record is not None else {}
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
    keys = dict(record.keys)
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


def _waiting_on(statuses: Sequence[ActionStatus]) -> bool:
    # A held call (``handlers.holds``) has not gone out yet: its phase waits for it.
    return any(s in ("pending", "sending", "held") for s in statuses)


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
            return RollbackStep("fail", f"{phase} failed", phase)
        if record is None:
            return _begin(rb, phase, skip)
        return _progress(phase, record, list(actions.values()), now, cfg)
    return RollbackStep("complete", "every phase done")


def _begin(rb: Rollback, phase: Phase, skip: str | None) -> RollbackStep:
    if skip is not None:
        return RollbackStep("skip", skip, phase)
    if phase == "revert_code" and rb.target_version is None:
        return RollbackStep("fail", "no last known good version to roll back to", phase)
    return RollbackStep("start", f"{phase} begins", phase)


def _progress(
    phase: Phase, record: PhaseRecord, statuses: list[ActionStatus], now: float, cfg: RollbackConfig
) -> RollbackStep:
    if "failed" in statuses:
        reason = f"a receiver of {phase} failed after its delivery retries"
        return failed(record, reason, cfg)
    if _waiting_on(statuses):
        return RollbackStep("wait", f"{phase}: waiting for receivers", phase)
    if phase == "verify":
        return RollbackStep("probe", "verify: watch live windows against the baseline", phase)
    return RollbackStep("finish", f"{phase}: every receiver answered", phase)


def failed(record: PhaseRecord, reason: str, cfg: RollbackConfig) -> RollbackStep:
    """A phase attempt failed: try again while the policy allows, then fail the rollback."""
    allowed = cfg.phase_retries.attempts(record.phase)
    tried = f"attempt {record.attempt} of {allowed}"
    if record.attempt < allowed:
        return RollbackStep("retry", f"{reason} ({tried}); trying again", record.phase)
    return RollbackStep("fail", f"{reason} ({tried})", record.phase)


def verify_step(
    record: PhaseRecord, healthy: bool, now: float, cfg: RollbackConfig
) -> RollbackStep:
    """After a health probe: done when healthy; the attempt failed once its budget is spent."""
    if healthy:
        return RollbackStep("finish", "back under the baseline", "verify")
    if now - record.attempt_start >= cfg.verify_budget_s:
        return failed(record, f"not back under the baseline within {cfg.verify_budget_s:g} s", cfg)
    return RollbackStep("wait", "not yet back under the baseline", "verify")
