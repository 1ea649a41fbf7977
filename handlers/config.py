"""The responder's settings groups: every duration, budget and name the plan gives, as data.

These are frozen pydantic groups so that ``app.settings.Settings`` can nest them (read from
``ALERTPIPE_RESPONSE__*``, ``ALERTPIPE_ROLLBACK__*``, ``ALERTPIPE_DELIVERY__*``) while the
pure decision code here takes them as plain arguments. Defaults are the plan's numbers.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.rollback import PhaseRetries
from schemas.severity import Severity

__all__ = [
    "LEASE_MARGIN",
    "DeliveryConfig",
    "HoldConfig",
    "PhaseRetries",
    "ReadinessConfig",
    "ResponseConfig",
    "RollbackConfig",
]

# A lease must outlast the longest thing its holder does between renewals by this factor: the
# margin covers the database round trips around it and a loaded machine's scheduling delays.
LEASE_MARGIN = 2.0


def _env(setting: str) -> str:
    return "ALERTPIPE_" + setting.upper().replace(".", "__")


def _lease_error(lease: str, lease_s: float, other: str, other_s: float, why: str) -> str:
    return (
        f"{lease} ({lease_s:g} s) must be at least {LEASE_MARGIN:g} × {other} ({other_s:g} s): "
        f"{why}. Set {_env(lease)} to {LEASE_MARGIN * other_s:g} or more, or {_env(other)} "
        f"to {lease_s / LEASE_MARGIN:g} or less"
    )


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResponseConfig(_Group):
    """Stage 3 and the escalation clock (the plan's "Team Communication" section)."""

    group_window_s: float = Field(
        default=300.0,
        gt=0,
        description="decisions for a service this close in time join one incident",
    )
    investigation_s: float = Field(
        default=120.0, gt=0, description="HIGH: investigation before the rollback"
    )
    cascade_window_s: float = Field(
        default=120.0, gt=0, description="S4: window in which critical alerts are counted"
    )
    cascade_min_alerts: int = Field(
        default=5, ge=2, description="S4: critical alerts in that window"
    )
    cascade_min_services: int = Field(
        default=3, ge=2, description="S4: failing services in that window"
    )
    lead_engineer_after_s: float = Field(
        default=300.0, ge=0, description="escalate to the lead engineer"
    )
    team_lead_after_s: float = Field(default=600.0, ge=0, description="escalate to the team lead")
    critical_rollback_after_s: float = Field(
        default=900.0, ge=0, description="roll back a still-critical incident"
    )
    final_contact_after_s: float = Field(default=1200.0, ge=0, description="page the final contact")
    lead_engineer: str = Field(
        default="lead engineer", description="who the first escalation names"
    )
    team_lead: str = Field(default="team lead", description="who the second escalation names")
    final_contact: str = Field(default="Dave", description="the plan's last escalation step")
    escalate_min_severity: Severity = Field(
        default=Severity.MEDIUM, description="incidents below this do not escalate"
    )
    chat_update_every_s: float = Field(
        default=120.0, gt=0, description="internal status updates (chat) while open"
    )
    status_update_every_s: float = Field(
        default=300.0, gt=0, description="stakeholder updates (status page) while open"
    )
    updates_min_severity: Severity = Field(
        default=Severity.MEDIUM, description="incidents below this get no periodic updates"
    )
    status_page_min_severity: Severity = Field(
        default=Severity.HIGH,
        description="the plan posts to the status page 'if customer-facing': incidents at or "
        "above this severity are (posted at detection, then updated every "
        "status_update_every_s); below it, updates stay internal (chat). MEDIUM (errors in "
        "logs, resources) is not customer-facing by default; LOW is refused",
    )
    review_due_within_s: float = Field(
        default=24 * 3600.0, gt=0, description="post-incident review deadline after resolution"
    )
    review_reminder_after_s: float = Field(
        default=3600.0, ge=0, description="review reminder after resolution"
    )
    reduced_capacity: float = Field(
        default=0.5, gt=0, le=1, description="S4: capacity the services resume at"
    )
    timers_poll_s: float = Field(
        default=1.0,
        gt=0,
        description="how often due timers are looked for at most (the worker sleeps until the "
        "next one is due, and a new one wakes it)",
    )
    rearm_grace_s: float = Field(
        default=300.0,
        gt=0,
        description="an incident resolved by hand while its alerts fire re-arms them: one "
        "still breaching this long after the resolution opens a new incident (a new breach "
        "opens one at once)",
    )

    @field_validator("status_page_min_severity")
    @classmethod
    def _posted_incidents_notify(cls, value: Severity) -> Severity:
        if value is Severity.LOW:
            raise ValueError(
                "LOW incidents are only recorded, never announced: use MEDIUM, HIGH or CRITICAL"
            )
        return value


class RollbackConfig(_Group):
    """Stage 4: the five phases' budgets and the verify baseline (the plan's rollback procedure)."""

    prepare_budget_s: float = Field(default=60.0, gt=0, description="prepare: at most")
    revert_code_budget_s: float = Field(default=120.0, gt=0, description="revert code: at most")
    restore_data_min_s: float = Field(
        default=300.0, gt=0, description="restore data: expected at least (recorded with the phase)"
    )
    restore_data_budget_s: float = Field(default=600.0, gt=0, description="restore data: at most")
    verify_min_s: float = Field(
        default=120.0, gt=0, description="verify: expected at least (recorded with the phase)"
    )
    verify_budget_s: float = Field(
        default=300.0,
        gt=0,
        description="verify gives up after this (breakers stay open, the incident escalates)",
    )
    resume_budget_s: float = Field(default=60.0, gt=0, description="resume: at most")
    verify_every_s: float = Field(
        default=5.0, gt=0, description="how often verify judges the live panes"
    )
    verify_window_s: float = Field(
        default=30.0, gt=0, description="verify judges the last N seconds"
    )
    verify_min_requests: int = Field(
        default=20, ge=1, description="fewer requests in that window is not yet a verdict"
    )
    baseline_error_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="verify passes under this error rate; unset: the policy's "
        "`readiness.error_rate` (the built-in plan's is this default)",
    )
    baseline_p95_ms: float = Field(
        default=1000.0,
        gt=0,
        description="… and under this p95; unset: the policy's `readiness.p95_ms` (the "
        "built-in plan's is this default)",
    )
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="a crashed worker's rollback is resumed after this (≥ 2 × poll_s and "
        "verify_every_s)",
    )
    poll_s: float = Field(
        default=0.5,
        gt=0,
        description="how often the orchestrator looks for work when no notification came "
        "(ALERTPIPE_DATABASE_NOTIFY)",
    )
    phase_retries: PhaseRetries = Field(
        default_factory=PhaseRetries,
        description="per phase: tries after a failure, before the rollback fails and escalates; "
        "unset: the policy's `rollback: phase_retries` (the built-in plan's are these defaults)",
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_wait(self) -> Self:
        """The worker renews its lease once per step and waits ``poll_s`` (``verify_every_s``
        in verify) between steps: a shorter lease lets a second worker take over a rollback
        whose worker is alive, and both drive it."""
        name, wait = max(
            (("rollback.poll_s", self.poll_s), ("rollback.verify_every_s", self.verify_every_s)),
            key=lambda item: item[1],
        )
        if self.lease_s < LEASE_MARGIN * wait:
            why = "a live worker's rollback would be claimed by a second worker between its steps"
            raise ValueError(_lease_error("rollback.lease_s", self.lease_s, name, wait, why))
        return self


class DeliveryConfig(_Group):
    """The outbox and the HTTP receivers: timeouts, backoff, leases."""

    timeout_s: float = Field(default=5.0, gt=0, description="one HTTP call's timeout")
    max_attempts: int = Field(
        default=6,
        ge=1,
        description="attempts in all (timeouts, 429 and 5xx are retried; other 4xx fail at "
        "once); pages are retried until delivered while their incident is open, and a chat or "
        "status page notice that fails for good rides along with the next one",
    )
    backoff_initial_s: float = Field(
        default=1.0, gt=0, description="first retry delay (doubles each time)"
    )
    backoff_max_s: float = Field(default=60.0, gt=0, description="longest retry delay")
    retry_after_max_s: float = Field(
        default=300.0, gt=0, description="a receiver's `Retry-After` is followed, capped at this"
    )
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="a claimed action not recorded by then is sent again (≥ 2 × timeout_s)",
    )
    poll_s: float = Field(
        default=0.5,
        gt=0,
        description="how often the outbox is looked at when no notification came "
        "(ALERTPIPE_DATABASE_NOTIFY)",
    )
    batch: int = Field(default=20, ge=1, description="actions claimed at a time")
    pager_dead_after_s: float = Field(
        default=120.0,
        gt=0,
        description="a pager failing this long (no page delivered since its first failure) "
        "is itself an incident: said in chat and to ALERTPIPE_PAGER_FALLBACK_URL (pages are "
        "retried until delivered all along)",
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Self:
        if self.lease_s < LEASE_MARGIN * self.timeout_s:
            why = "a send still waiting for its answer would be claimed and sent a second time"
            raise ValueError(
                _lease_error(
                    "delivery.lease_s", self.lease_s, "delivery.timeout_s", self.timeout_s, why
                )
            )
        return self


class HoldConfig(_Group):
    """Maintenance windows and automation holds (``handlers.holds``)."""

    recheck_s: float = Field(
        default=5.0,
        gt=0,
        description="a held control call or rollback looks again this often whether its hold "
        "still applies (a window that ended); a lifted hold or a release wakes them at once",
    )


class ReadinessConfig(_Group):
    """The readiness gate (``handlers.readiness``; its baselines are the policy's
    ``readiness``): how recent each piece of evidence must be."""

    drill_within_s: float = Field(
        default=30 * 86_400.0,
        gt=0,
        description="a passed drill counts this long for 'rollback procedure tested' (a drill "
        "of the service) and 'DR drill completed' (any drill): the plan's monthly drill",
    )
    attestation_valid_s: float = Field(
        default=90 * 86_400.0,
        gt=0,
        description="an operator's attestation that the team is trained on the runbook counts "
        "this long after it was recorded",
    )
    monitoring_within_s: float = Field(
        default=300.0,
        gt=0,
        description="'monitoring configured' needs telemetry from the service within this",
    )
    check_valid_s: float = Field(
        default=3600.0,
        gt=0,
        description="a passed readiness check of a version lets a deploy of it start within "
        "this long; later, or without one, the deploy is 'deployed while not ready'",
    )
