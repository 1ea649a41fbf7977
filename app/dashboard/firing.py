"""When each alert fired: intervals rebuilt from the decisions stage 2 publishes.

A decision is a state change (or a firing alert's turn) of one alert: one rule on one scope,
``fingerprint``. An interval opens when its alert goes to ``firing`` and closes on its next
change away from firing; turns (firing again while held) leave it open. The graphs shade
them. Bounded: an alert has at most one open interval, each scope keeps its last
``CLOSED_PER_SCOPE`` closed ones, and ``prune`` forgets those that ended before the
retention.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from schemas.decisions import Decision
from schemas.panes import Dimension, Scope

__all__ = ["CLOSED_PER_SCOPE", "Firing", "FiringLog", "decision_scope"]

CLOSED_PER_SCOPE = 200
_DIMENSIONS: tuple[Dimension, ...] = ("endpoint", "host", "queue", "bot", "check", "dataset")


def decision_scope(decision: Decision) -> Scope:
    """The pane scope a decision is about (a service-wide rule: the service's own scope)."""
    fields = decision.scope
    service = fields.get("service", decision.service)
    for dimension in _DIMENSIONS:
        if dimension in fields:
            return Scope(service=service, dimension=dimension, key=fields[dimension])
    return Scope(service=service, dimension="service", key=service)


@dataclass(frozen=True)
class Firing:
    rule: str
    metric: str
    severity: str
    from_ms: int
    to_ms: int | None  # None: still firing

    def overlaps(self, from_ms: int, to_ms: int) -> bool:
        return self.from_ms < to_ms and (self.to_ms is None or self.to_ms > from_ms)


class FiringLog:
    def __init__(self) -> None:
        self._closed: dict[str, deque[Firing]] = {}  # scope id -> closed intervals
        self._open: dict[str, tuple[str, Firing]] = {}  # fingerprint -> (scope id, interval)
        self.decisions = 0

    def add(self, decision: Decision) -> None:
        self.decisions += 1
        scope_id = decision_scope(decision).id
        if decision.state == "firing" and decision.fingerprint in self._open:
            return  # a turn of a firing alert (firing -> firing): the interval goes on
        ended = self._open.pop(decision.fingerprint, None)
        if ended is not None:
            closed = self._closed.setdefault(ended[0], deque(maxlen=CLOSED_PER_SCOPE))
            closed.append(replace(ended[1], to_ms=max(decision.at_ms, ended[1].from_ms)))
        if decision.state == "firing":
            opened = Firing(
                decision.rule,
                decision.evidence.metric,
                decision.severity.value,
                decision.at_ms,
                None,
            )
            self._open[decision.fingerprint] = (scope_id, opened)

    def of(self, scope: Scope, from_ms: int, to_ms: int) -> list[Firing]:
        """The intervals of ``scope`` that overlap [from_ms, to_ms), oldest first."""
        found = [f for f in self._closed.get(scope.id, ()) if f.overlaps(from_ms, to_ms)]
        found += [f for sid, f in self._open.values() if sid == scope.id]
        return sorted((f for f in found if f.overlaps(from_ms, to_ms)), key=lambda f: f.from_ms)

    def prune(self, before_ms: int) -> None:
        """Forget closed intervals that ended before ``before_ms`` (out of the retention)."""
        for scope_id, closed in list(self._closed.items()):
            while closed and (closed[0].to_ms or 0) < before_ms:
                closed.popleft()
            if not closed:
                del self._closed[scope_id]

    @property
    def firing(self) -> int:
        return len(self._open)
