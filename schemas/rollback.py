"""The rollback's phases, in the plan's order, and how often each is tried again.

``RollbackPhase`` is the one list of phases: the wire (``PhaseRecord.phase``), the procedure
(``handlers.rollback.phases``, whose table is keyed by it), the policy's
``rollback.phase_retries`` and the settings' ``ALERTPIPE_ROLLBACK__PHASE_RETRIES__<PHASE>`` all
read it. ``PhaseRetries`` lives here, beside it, because both the policy (streams) and the
responder (handlers) validate it; importing this module fails when the two disagree. The SQL
CHECK of ``rollback_phases.phase`` and the shipped ``default.yaml`` are tested against it.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PHASES",
    "PhaseRetries",
    "PhaseStatus",
    "RollbackPhase",
    "RollbackStatus",
    "parse_phase",
]

RollbackPhase = Literal["prepare", "revert_code", "restore_data", "verify", "resume"]
PHASES: tuple[RollbackPhase, ...] = get_args(RollbackPhase)

PhaseStatus = Literal["running", "succeeded", "failed", "skipped"]
RollbackStatus = Literal["requested", "running", "succeeded", "failed"]

RetryCount = Annotated[int, Field(ge=0, le=5)]


def parse_phase(name: str) -> RollbackPhase:
    """``name`` as a phase (a stored row's), or ValueError naming the phases there are."""
    for phase in PHASES:
        if phase == name:
            return phase
    raise ValueError(f"unknown rollback phase {name!r}; expected one of {', '.join(PHASES)}")


class PhaseRetries(BaseModel):
    """How many more times each rollback phase is tried after it failed, before the rollback
    fails and the incident escalates (the plan: "never loop"). A phase fails when one of its
    receivers failed for good — after the outbox's own delivery retries — or, for verify, when
    the service is not back under the baseline within ``verify_budget_s``. A retry re-sends the
    phase's failed calls: under the same idempotency key when the receiver may have acted
    (timeouts, 5xx), under a new one (``…#2``) when it refused, so that it sees a new request,
    not a replay of the refused one. One field per ``RollbackPhase``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prepare: RetryCount = Field(default=1, description="retries of prepare")
    revert_code: RetryCount = Field(default=1, description="retries of revert code")
    restore_data: RetryCount = Field(default=1, description="retries of restore data")
    verify: RetryCount = Field(default=0, description="retries of verify")
    resume: RetryCount = Field(default=1, description="retries of resume")

    def attempts(self, phase: RollbackPhase) -> int:
        """Tries in all for ``phase`` (the first one plus its retries)."""
        return 1 + int(getattr(self, phase))


if tuple(PhaseRetries.model_fields) != PHASES:
    raise TypeError(
        f"PhaseRetries has fields {tuple(PhaseRetries.model_fields)}, expected one per "
        f"RollbackPhase in its order: {PHASES}"
    )
