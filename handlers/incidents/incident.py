"""The incident: one service's trouble, the alerts that make it up, and what was done so far.

Plain frozen data: the decision code returns new incidents instead of changing them, and the
storage adapter maps them to rows. Times are wall-clock epoch seconds, except each alert's
``at`` which is the event time of its last decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.decisions import AlertState
from schemas.incidents import IncidentStatus
from schemas.severity import Scenario, Severity

__all__ = ["SCENARIO_RANK", "AlertEntry", "HoldRelease", "Incident", "worse_scenario"]

# Which scenario wins when an incident matches several: the wider response first.
SCENARIO_RANK: dict[Scenario, int] = {"S3": 0, "S1": 1, "S2": 2, "S4": 3}


def worse_scenario(a: Scenario | None, b: Scenario | None) -> Scenario | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if SCENARIO_RANK[a] >= SCENARIO_RANK[b] else b


@dataclass(frozen=True)
class AlertEntry:
    """The latest state of one alert (one rule on one scope) inside an incident."""

    fingerprint: str
    rule: str
    state: AlertState
    severity: Severity
    at: float
    scope: Mapping[str, str] = field(default_factory=dict)
    window_start: float | None = None  # where the evidence of its first firing began (epoch s)
    # Whether the rule's condition held on its latest window (None: no data, or not known —
    # an alert recorded before this was kept counts as breaching while firing or pending).
    breaching: bool | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)  # of its latest decision
    response: str | None = None  # what its rule asks for (None: recorded before it was kept)

    @property
    def may_roll_back(self) -> bool:
        """A HIGH or CRITICAL alert can be a rollback's reason, unless its rule only pages:
        a backup overdue is no fault of the code (``schemas.decisions.Response``)."""
        return self.severity >= Severity.HIGH and self.response != "page"

    @property
    def breaches(self) -> bool:
        """The condition still holds on the latest window: pending or firing and breaching —
        not a firing alert kept only by ``keep_firing_for``, nor one without data."""
        if self.state not in ("pending", "firing"):
            return False
        return self.breaching is not False


@dataclass(frozen=True)
class HoldRelease:
    """An operator let the incident's automation run despite what held it (``handlers.holds``):
    ``cause`` is the hold's key (``window:<id>``, ``hold:<id>``, ``silence:<id>``)."""

    cause: str
    by: str
    at: float
    note: str = ""


@dataclass(frozen=True)
class Incident:
    id: str
    service: str
    severity: Severity
    status: IncidentStatus
    title: str
    opened_at: float
    last_decision_at: float
    scenario: Scenario | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None
    mitigated_at: float | None = None
    resolved_at: float | None = None
    bad_version: str | None = None
    last_good_version: str | None = None  # the rollback target (``handlers.incidents.target``)
    target_basis: str | None = None  # why that target; or why none (``target.IN_EFFECT``)
    involves_data: bool = False
    alerts: Mapping[str, AlertEntry] = field(default_factory=dict)
    steps: frozenset[str] = frozenset()
    rollback_status: str | None = None
    human_decision: str | None = None
    dry_run: bool = False  # its decisions are on trial: actions recorded, never sent
    hold_releases: tuple[HoldRelease, ...] = ()
    drill: str | None = None  # the DR drill that caused it; None for a real incident

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def firing(self) -> bool:
        """Some alert still fires, or has gone silent (no data is never taken as recovery)."""
        return any(a.state in ("firing", "no_data") for a in self.alerts.values())

    @property
    def breaching(self) -> bool:
        """Some alert's condition still holds on its latest window (``AlertEntry.breaches``)."""
        return any(a.breaches for a in self.alerts.values())

    @property
    def first_evidence_at(self) -> float | None:
        """The start of the earliest window any of its alerts fired on."""
        return min(
            (a.window_start for a in self.alerts.values() if a.window_start is not None),
            default=None,
        )

    @property
    def held(self) -> bool:
        """Acknowledged with a note: a human has taken it, so the HIGH timer holds off."""
        return self.acknowledged_at is not None and bool((self.ack_note or "").strip())

    @property
    def rollback_active(self) -> bool:
        return self.rollback_status in ("requested", "running")

    @property
    def released(self) -> frozenset[str]:
        """The holds an operator released this incident's automation from."""
        return frozenset(r.cause for r in self.hold_releases)

    def done(self, step: str) -> bool:
        return step in self.steps

    def with_steps(self, *steps: str) -> Incident:
        return replace(self, steps=self.steps | frozenset(steps))
