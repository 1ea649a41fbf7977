"""Silences and inhibition — pure matching, each answer naming what muted what.

A silence is a set of label matchers (Alertmanager style: ``=``, ``!=``, ``=~``, ``!~``) on the
labels a notification carries: ``service``, ``severity``, ``scenario``, ``rule`` and the
scope's own labels (``endpoint``, ``bot`` …), plus a start, an end, an author and a comment.
It mutes notifications (page, chat, status page) while the incident is still recorded and
the control actions (breaker, rollback, restore, bots) still run.

Inhibition: an open CRITICAL incident of a service inhibits that service's lower-severity
notifications of other incidents (never its own, queued before it became CRITICAL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from schemas.severity import Severity

__all__ = [
    "Inhibitor",
    "MatchOp",
    "Matcher",
    "Silence",
    "SilenceState",
    "inhibited_by",
    "silenced_by",
]

MatchOp = Literal["=", "!=", "=~", "!~"]
SilenceState = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    op: MatchOp = "="

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            re.compile(self.value)  # fail at creation, not at notification time

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: Sequence[Matcher]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str = ""
    created_at: float = 0.0
    hold_automation: bool = False  # also holds the control actions (``handlers.holds``)
    updated_by: str | None = None  # who last changed or expired it

    def state(self, now: float) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.state(now) == "active" and all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class Inhibitor:
    """An open incident that may inhibit others: only CRITICAL ones do."""

    incident_id: str
    service: str
    severity: Severity
    extra: Mapping[str, str] = field(default_factory=dict)


def silenced_by(
    silences: Iterable[Silence], labels: Mapping[str, str], now: float
) -> Silence | None:
    """The first active silence whose matchers all match, if any."""
    return next((s for s in silences if s.mutes(labels, now)), None)


def inhibited_by(
    inhibitors: Iterable[Inhibitor], service: str, severity: Severity, incident_id: str
) -> Inhibitor | None:
    """An open CRITICAL incident of the same service, when the notice is of lower severity and
    belongs to another incident. An incident never inhibits itself: raised from HIGH to
    CRITICAL, the HIGH notices it queued before (its page, its chat) still go out — they say
    what the incident was until then, and the CRITICAL ones follow them in order."""
    if severity is Severity.CRITICAL:
        return None
    return next(
        (
            i
            for i in inhibitors
            if i.severity is Severity.CRITICAL
            and i.service == service
            and i.incident_id != incident_id
        ),
        None,
    )
