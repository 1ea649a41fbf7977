"""What a decision leads to, as data: timeline entries, outbox actions, timers, events, rollback.

The pure decision functions return ``Effects``; the storage adapter writes all of it in the
transaction that records the cause, so an effect exists durably exactly when its cause does.
Every action carries an idempotency key built from the incident and the plan step it
belongs to, so recording the same step twice (a re-delivered decision, a re-fired timer, a
retried phase) never creates a second effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from handlers.actions import ACTIONS, NOTIFICATION_KINDS
from handlers.incidents.incident import Incident
from schemas.incidents import ActionKind, IncidentEventType
from schemas.severity import Severity

__all__ = [
    "NOTIFICATION_KINDS",
    "ActionIntent",
    "Effects",
    "EventIntent",
    "RollbackIntent",
    "TimelineEntry",
    "TimelineKind",
    "TimerIntent",
    "TimerKind",
    "action_key",
]

TimelineKind = Literal[
    "decision",
    "action",
    "human",
    "timer",
    "escalation",
    "rollback",
    "silence",
    "inhibition",
    "status",
    "hold",
]
TimerKind = Literal["escalation", "investigation", "rearm"]


def action_key(incident_id: str, *parts: str) -> str:
    """The idempotency key of one plan step of one incident (``inc_1:page:trigger:detection``)."""
    return ":".join((incident_id, *parts))


@dataclass(frozen=True)
class TimelineEntry:
    kind: TimelineKind
    message: str
    actor: str = "alertpipe"
    reason: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionIntent:
    """One effect for the outbox. ``closing`` notices (page acknowledge/resolve) are never muted:
    muting them would leave a page open that was already sent."""

    kind: ActionKind
    key: str
    payload: Mapping[str, Any]
    severity: Severity
    labels: Mapping[str, str] = field(default_factory=dict)
    closing: bool = False

    @property
    def notification(self) -> bool:
        return ACTIONS[self.kind].notification


@dataclass(frozen=True)
class TimerIntent:
    kind: TimerKind
    due_at: float


@dataclass(frozen=True)
class EventIntent:
    type: IncidentEventType
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RollbackIntent:
    reason: str
    involves_data: bool = False
    emergency: bool = False
    capacity: float | None = None


@dataclass(frozen=True)
class Effects:
    """The new incident and everything to record with it."""

    incident: Incident
    timeline: tuple[TimelineEntry, ...] = ()
    actions: tuple[ActionIntent, ...] = ()
    timers: tuple[TimerIntent, ...] = ()
    events: tuple[EventIntent, ...] = ()
    rollback: RollbackIntent | None = None

    def then(self, other: Effects) -> Effects:
        """These effects followed by ``other`` (whose incident is the newer one)."""
        return replace(
            other,
            timeline=self.timeline + other.timeline,
            actions=self.actions + other.actions,
            timers=self.timers + other.timers,
            events=self.events + other.events,
            rollback=other.rollback or self.rollback,
        )
