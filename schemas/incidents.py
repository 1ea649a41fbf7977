"""Incidents and their actions, wire version 1.

``IncidentEvent`` is what subscribers read from the ``incidents`` topic: one message per
lifecycle step of an incident, keyed by service. ``ActionRecord`` is one automated effect
(page, status update, breaker, rollback phase, restore, bot restart) as the outbox holds it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.severity import Scenario, Severity

__all__ = ["ActionKind", "ActionRecord", "IncidentEvent", "IncidentEventType", "IncidentStatus"]

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

ActionKind = Literal[
    "page",
    "chat",
    "status_page",
    "breaker",
    "rollback",
    "restore",
    "bot_restart",
    "integrity_check",
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


class ActionRecord(_Model):
    v: Literal[1] = 1
    action_id: str
    incident_id: str
    kind: ActionKind
    idempotency_key: str = Field(description="same key on every retry of the same effect")
    payload: dict[str, Any] = Field(default_factory=dict)
    status: Literal["pending", "sent", "failed", "muted"] = "pending"
    attempts: int = Field(default=0, ge=0)
