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

__all__ = ["LEASE_MARGIN", "DeliveryConfig", "PhaseRetries", "ResponseConfig", "RollbackConfig"]

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
    investigation_s: float = Field(default=120.0, gt=0, description="HIGH: investigation window")
    cascade_window_s: float = Field(default=120.0, gt=0, description="S4: window for counting")
    cascade_min_alerts: int = Field(default=5, ge=2, description="S4: critical alerts in window")
    cascade_min_services: int = Field(default=3, ge=2, description="S4: failing services")
    lead_engineer_after_s: float = Field(default=300.0, ge=0)
    team_lead_after_s: float = Field(default=600.0, ge=0)
    critical_rollback_after_s: float = Field(default=900.0, ge=0)
    final_contact_after_s: float = Field(default=1200.0, ge=0)
    lead_engineer: str = "lead engineer"
    team_lead: str = "team lead"
    final_contact: str = Field(default="Dave", description="the plan's last escalation step")
    escalate_min_severity: Severity = Severity.MEDIUM
    chat_update_every_s: float = Field(default=120.0, gt=0, description="internal updates")
    status_update_every_s: float = Field(default=300.0, gt=0, description="stakeholder updates")
    updates_min_severity: Severity = Severity.MEDIUM
    status_page_min_severity: Severity = Field(
        default=Severity.HIGH,
        description="the plan posts to the status page 'if customer-facing': incidents at or "
        "above this severity are (posted at detection, then updated every "
        "status_update_every_s); below it, updates stay internal (chat)",
    )
    review_due_within_s: float = Field(default=24 * 3600.0, gt=0)
    review_reminder_after_s: float = Field(default=3600.0, ge=0)
    reduced_capacity: float = Field(default=0.5, gt=0, le=1, description="S4 resume capacity")
    timers_poll_s: float = Field(default=1.0, gt=0)

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

    prepare_budget_s: float = Field(default=60.0, gt=0)
    revert_code_budget_s: float = Field(default=120.0, gt=0)
    restore_data_min_s: float = Field(default=300.0, gt=0)
    restore_data_budget_s: float = Field(default=600.0, gt=0)
    verify_min_s: float = Field(default=120.0, gt=0)
    verify_budget_s: float = Field(
        default=300.0, gt=0, description="verify gives up (and escalates) after this"
    )
    resume_budget_s: float = Field(default=60.0, gt=0)
    verify_every_s: float = Field(default=5.0, gt=0)
    verify_window_s: float = Field(default=30.0, gt=0, description="judge the last N seconds")
    verify_min_requests: int = Field(default=20, ge=1)
    baseline_error_rate: float = Field(default=0.01, ge=0, le=1)
    baseline_p95_ms: float = Field(default=1000.0, gt=0)
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="a crashed worker's rollback is resumed after this (≥ 2 × poll_s and "
        "verify_every_s)",
    )
    poll_s: float = Field(default=0.5, gt=0)
    phase_retries: PhaseRetries = Field(
        default_factory=PhaseRetries,
        description="per phase: tries after a failure before escalating (policy `rollback:`)",
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

    timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    retry_after_max_s: float = Field(default=300.0, gt=0)
    lease_s: float = Field(
        default=30.0,
        gt=0,
        description="a claimed action not recorded by then is sent again (≥ 2 × timeout_s)",
    )
    poll_s: float = Field(default=0.5, gt=0)
    batch: int = Field(default=20, ge=1)

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
