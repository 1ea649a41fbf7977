"""Incidents and their actions, wire version 1.

``IncidentEvent`` is what subscribers read from the ``incidents`` topic: one message per
lifecycle step of an incident, keyed by service. ``IncidentRecord`` is an incident as the
HTTP API serves it (``GET /incidents`` rows; ``GET /incidents/{id}`` adds its
``TimelineEntry`` list, its ``ActionRecord`` list and its ``RollbackRecord`` with
``PhaseRecord`` rows). ``ActionRecord`` is one automated effect (page, status update,
breaker, rollback, restore, bot restart) as the outbox holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.maintenance import AutomationRecord, HoldReleaseRecord
from schemas.rollback import PhaseStatus, RollbackPhase, RollbackStatus
from schemas.severity import Scenario, Severity

__all__ = [
    "ActionKind",
    "ActionRecord",
    "ActionStatus",
    "IncidentEvent",
    "IncidentEventType",
    "IncidentRecord",
    "IncidentStatus",
    "PhaseRecord",
    "RestoredBackup",
    "RollbackRecord",
    "TimelineEntry",
]

IncidentStatus = Literal["open", "acknowledged", "mitigated", "resolved"]

IncidentEventType = Literal[
    "opened",
    "severity_changed",
    "escalated",
    "acknowledged",
    "action",
    "rollback_phase",
    "mitigated",
    "resolved",
    "reopened",
]

# The kinds of action; ``handlers.actions.ACTIONS`` has a row for each (receiver, URL setting,
# outbox lane), checked when it is imported. The SQL CHECK of ``actions.kind`` is tested against it.
ActionKind = Literal[
    "page",
    "chat",
    "status_page",
    "breaker",
    "rollback",
    "restore",
    "bot_restart",
    "integrity_check",
    "pager_fallback",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class IncidentEvent(_Model):
    v: Literal[1] = 1
    event_id: str = Field(description="unique per event; consumers dedup on it")
    incident_id: str
    type: IncidentEventType
    at: float = Field(description="wall-clock epoch seconds")
    service: str
    scenario: Scenario | None = None
    severity: Severity
    status: IncidentStatus
    title: str
    bad_version: str | None = None
    last_good_version: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    drill: str | None = Field(default=None, description="the DR drill it belongs to, if any")
    dry_run: bool = Field(
        default=False, description="a trial's incident: its actions were recorded, never sent"
    )


ActionStatus = Literal[
    "pending", "sending", "sent", "failed", "muted", "inhibited", "held", "dry_run"
]


class ActionRecord(_Model):
    """One effect of the plan's response, with its delivery state (the outbox row)."""

    v: Literal[1] = 1
    id: int
    kind: ActionKind
    idempotency_key: str = Field(description="same key on every retry of the same effect")
    status: ActionStatus = Field(
        description="muted: a silence or a maintenance window matched; inhibited: a CRITICAL "
        "incident of the service superseded it; held: a control call a maintenance window, a "
        "global hold or a silence holds (it goes out once released); dry_run: recorded as "
        "'would have sent', never sent"
    )
    attempts: int = Field(ge=0)
    reason: str | None = Field(default=None, description="why it was muted, inhibited, failed")
    last_error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None
    payload: dict[str, Any] = Field(default_factory=dict, description="what the receiver gets")


class TimelineEntry(_Model):
    """One append-only step of an incident's history, and why it happened."""

    id: int
    at: datetime
    kind: str = Field(
        description="decision, action, human, timer, escalation, rollback, silence, "
        "inhibition, status (new kinds may be added)"
    )
    actor: str = Field(description="alertpipe, or the person who acted")
    message: str
    reason: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)


class PhaseRecord(_Model):
    """One phase of a rollback, timed against the plan's budget."""

    phase: RollbackPhase
    status: PhaseStatus
    started_at: datetime
    finished_at: datetime | None = None
    budget_min_s: float = Field(description="the plan expects it to take at least this")
    budget_s: float = Field(description="the plan's budget")
    duration_s: float | None = None
    attempt: int = Field(default=1, ge=1, description="1, or the retry being run")
    detail: dict[str, Any] = Field(default_factory=dict)


class RestoredBackup(_Model):
    """What a data rollback restored of one dataset: the backup, the data it lost against the
    dataset's RPO, and how long the restore took against its RTO."""

    dataset: str
    backup_id: str
    type: str
    taken_at: float = Field(description="epoch seconds: the moment the restored data is from")
    tested: bool = Field(description="a restore test of this backup had passed")
    location: str | None = None
    why: str = Field(description="why this backup (the newest restore-tested one, …)")
    loss_window_s: float = Field(
        description="data lost: the restore point (when corruption could have begun) minus taken_at"
    )
    rpo_s: float | None = Field(
        default=None, description="the dataset's RPO, if the policy has one"
    )
    within_rpo: bool | None = None
    restore_duration_s: float | None = Field(
        default=None, description="how long the restore took (null while it runs)"
    )
    rto_s: float | None = None
    within_rto: bool | None = None


class RollbackRecord(_Model):
    """An incident's rollback to the last known good version (at most one per incident)."""

    id: str
    status: RollbackStatus
    reason: str
    from_version: str | None = None
    target_version: str | None = None
    target_basis: str | None = Field(
        default=None,
        description="why that version: known_good (ran healthy through its post-deploy "
        "window) or previous_deploy (deployed successfully before the bad one, not yet proven)",
    )
    involves_data: bool = False
    emergency: bool = False
    capacity: float | None = Field(default=None, description="S4: resume at this share")
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str | None = None
    restore_before: datetime | None = Field(
        default=None, description="data incidents: the backup restored predates this moment"
    )
    restore_basis: str | None = Field(
        default=None, description="why that moment: the bad deploy, the first alert, the request"
    )
    phases: list[PhaseRecord] = Field(default_factory=list)
    restored: list[RestoredBackup] = Field(
        default_factory=list,
        description="data rollbacks: the backup restored of each dataset, its data-loss window "
        "against the RPO and the restore's duration against the RTO",
    )


class IncidentRecord(_Model):
    """An incident as the HTTP API serves it; the list leaves out the last three fields."""

    v: Literal[1] = 1
    id: str
    service: str = Field(description='"*" for a cascade across services (S4)')
    scenario: Scenario | None = None
    severity: Severity = Field(description="the worst severity seen")
    status: IncidentStatus
    title: str
    opened_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    bad_version: str | None = None
    last_good_version: str | None = Field(default=None, description="the rollback target")
    target_basis: str | None = Field(
        default=None,
        description="known_good, previous_deploy; or, with no target, known_good_in_effect",
    )
    involves_data: bool = False
    rollback_status: str | None = None
    human_decision: str | None = Field(default=None, description="rollback or dismiss (MEDIUM)")
    alerts: dict[str, Any] = Field(default_factory=dict, description="the alerts it groups")
    steps: list[str] = Field(default_factory=list, description="plan steps already taken")
    updated_at: datetime
    dry_run: bool = Field(default=False, description="a trial: actions recorded, none sent")
    hold_releases: list[HoldReleaseRecord] = Field(
        default_factory=list, description="holds an operator released its automation from"
    )
    automation: AutomationRecord | None = Field(
        default=None, description="open incidents: what holds their automation now"
    )
    timeline: list[TimelineEntry] = Field(default_factory=list)
    actions: list[ActionRecord] = Field(default_factory=list)
    rollback: RollbackRecord | None = None
    drill: str | None = Field(
        default=None, description="the DR drill that caused it (absent: a real incident)"
    )
