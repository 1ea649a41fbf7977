"""SLOs of one service: their roll-ups, the windows their burn-rate rules read, their budgets.

An SLO per service counts every endpoint of the service; per endpoint, each matching
endpoint on its own. Counts older than the pane buffer come from the scope's ``RollUp`` (up
to its ``rolled_until_ms``), newer ones from the 1 s panes still buffered, so every window
ends at the latest closed pane whatever its length. Burn-rate rules are judged once a
minute (at the first pane end in a new minute): their windows are an hour and longer, and the
workbook's alerts are built for that pace; the budget of each SLO and scope is reported then
too, with the roll-up's checkpoint for a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from math import ceil
from typing import Any

from schemas.panes import PaneSummary, Scope
from schemas.slo import SloBudget
from schemas.window import WindowStats
from streams.evaluate.buffer import PaneBuffer
from streams.evaluate.rollup import DAY_MS, HOUR_MS, MINUTE_MS, RollUp
from streams.evaluate.rules import MetricInput
from streams.policy.durations import format_duration
from streams.policy.model import Policy, Rule, SloPolicy, scope_fields

__all__ = ["ROLLUP_KIND", "SLO_KIND", "SloTracker", "rollup_key", "slo_key"]

ROLLUP_KIND, SLO_KIND = "rollup", "slo"


def rollup_key(scope_id: str) -> str:
    return f"rollup:{scope_id}"


def slo_key(slo: str, scope_id: str) -> str:
    return f"slo:{slo}|{scope_id}"


def _levels(policy: Policy) -> tuple[tuple[int, int], ...]:
    """Ring sizes for the policy's longest window (hours) and longest period (days)."""
    windows = [r.window_ms for r in policy.rules if r.slo is not None]
    periods = [slo.period_ms for slo in policy.slos]
    hours = max(2, ceil(max(windows, default=HOUR_MS) / HOUR_MS) + 1)
    days = max(2, ceil(max(periods, default=DAY_MS) / DAY_MS) + 1)
    return ((MINUTE_MS, 120), (HOUR_MS, hours), (DAY_MS, days))


class SloTracker:
    """The SLO side of one service's evaluation (``ServiceEvaluation.slos``)."""

    def __init__(self, service: str, policy: Policy, drill: str | None = None) -> None:
        self.service = service
        self.policy = policy
        self.rules = [rule for rule in policy.rules if rule.slo is not None]
        self.rollups: dict[str, RollUp] = {}
        self.minute = 0  # the latest minute judged
        self._levels = _levels(policy)
        self._targets: dict[str, list[Scope]] = {}
        self._service_scope = Scope(service=service, dimension="service", key=service, drill=drill)

    @property
    def active(self) -> bool:
        return bool(self.rules)

    # --- roll-ups ------------------------------------------------------------------------

    def targets(self, scope: Scope) -> list[Scope]:
        """The SLO scopes an endpoint's panes count towards: itself, its service."""
        found = self._targets.get(scope.id)
        if found is None:
            found = []
            if scope.dimension == "endpoint":
                if any(r.matches(scope) for r in self.rules):
                    found.append(scope)
                if any(r.matches(self._service_scope) for r in self.rules):
                    found.append(self._service_scope)
            self._targets[scope.id] = found
        return found

    def fold(self, evicted: Iterable[PaneSummary], horizon_ms: int) -> None:
        """Roll up panes leaving the buffer (not those a restored roll-up counted already);
        every roll-up of the service then reaches the buffer's new start."""
        for pane in evicted:
            if pane.requests is None:
                continue
            for target in self.targets(pane.scope):
                rollup = self._rollup(target.id)
                if pane.end_ms > rollup.rolled_until_ms:
                    rollup.add(pane.start_ms, pane.requests.count, pane.requests.errors)
        for rollup in self.rollups.values():
            rollup.rolled_until_ms = max(rollup.rolled_until_ms, horizon_ms)

    def _rollup(self, scope_id: str) -> RollUp:
        found = self.rollups.get(scope_id)
        if found is None:
            found = self.rollups[scope_id] = RollUp(self._levels)
        return found

    def restore(self, value: Mapping[str, Any]) -> None:
        scope = Scope.model_validate(value["scope"])
        self.rollups[scope.id] = RollUp.decode(dict(value), self._levels)

    # --- windows ---------------------------------------------------------------------------

    def due(self, tick: int) -> bool:
        """A minute began since the last judgement (and there is something to judge)."""
        return self.active and tick // MINUTE_MS > self.minute

    def scopes(self, buffers: Mapping[str, PaneBuffer]) -> list[Scope]:
        found: dict[str, Scope] = {}
        for buffer in buffers.values():
            for target in self.targets(buffer.scope):
                found[target.id] = target
        for scope_id in self.rollups:  # quiet now, but counted before
            if scope_id not in found:
                scope = self._scope_of(scope_id, buffers)
                if scope is not None:
                    found[scope_id] = scope
        return list(found.values())

    def _scope_of(self, scope_id: str, buffers: Mapping[str, PaneBuffer]) -> Scope | None:
        if scope_id == self._service_scope.id:
            return self._service_scope
        buffer = buffers.get(scope_id)
        return None if buffer is None else buffer.scope

    def rules_for(self, scope: Scope) -> list[Rule]:
        return [rule for rule in self.rules if rule.matches(scope)]

    def counts(
        self, scope: Scope, start_ms: int, end_ms: int, buffers: Mapping[str, PaneBuffer]
    ) -> tuple[int, int]:
        """(requests, 5xx) of ``scope`` in [start, end): rolled up, then still buffered."""
        rollup = self.rollups.get(scope.id)
        rolled = rollup.rolled_until_ms if rollup is not None else 0
        requests = errors = 0.0
        if rollup is not None and start_ms < rolled:
            old = rollup.counts(start_ms, min(end_ms, rolled))
            requests, errors = old.requests, old.errors
        for buffer in self._buffers_of(scope, buffers):
            n, e = buffer.request_counts(end_ms, end_ms - max(start_ms, rolled))
            requests, errors = requests + n, errors + e
        return round(requests), round(errors)

    def _buffers_of(self, scope: Scope, buffers: Mapping[str, PaneBuffer]) -> list[PaneBuffer]:
        if scope.dimension == "endpoint":
            found = buffers.get(scope.id)
            return [] if found is None else [found]
        return [b for b in buffers.values() if b.scope.dimension == "endpoint"]

    def metric_input(
        self,
        scope: Scope,
        window_ms: int,
        tick: int,
        buffers: Mapping[str, PaneBuffer],
        first_ms: int | None,
    ) -> MetricInput:
        start = tick - window_ms
        requests, errors = self.counts(scope, start, tick, buffers)
        first = self._first(scope, first_ms)
        covered = 0.0 if first is None else max(0, min(window_ms, tick - first)) / 1000.0
        if scope.dimension == "service":
            window = WindowStats(scope=scope, start_ms=start, end_ms=tick)
            return MetricInput(window, covered, service_requests=(requests, errors))
        rate = errors / requests if requests else None
        window = WindowStats(
            scope=scope,
            start_ms=start,
            end_ms=tick,
            requests=requests,
            errors=errors,
            error_rate=rate,
        )
        return MetricInput(window, covered)

    # --- budgets ---------------------------------------------------------------------------

    def budgets(
        self, scope: Scope, tick: int, buffers: Mapping[str, PaneBuffer], first_ms: int | None
    ) -> list[SloBudget]:
        found = []
        for slo in self.policy.slos:
            rules = [r for r in self.rules if r.slo == slo.name and r.matches(scope)]
            if rules:
                found.append(self._budget(slo, rules, scope, tick, buffers, first_ms))
        return found

    def _budget(
        self,
        slo: SloPolicy,
        rules: list[Rule],
        scope: Scope,
        tick: int,
        buffers: Mapping[str, PaneBuffer],
        first_ms: int | None,
    ) -> SloBudget:
        first = self._first(scope, first_ms)
        since = max(tick - slo.period_ms, first if first is not None else tick)
        requests, errors = self.counts(scope, since, tick, buffers)
        remaining = 1.0 - errors / (requests * slo.budget) if requests else None
        burns: dict[str, float | None] = {}
        for window in sorted({w for r in rules for w in r.windows_ms}):
            n, e = self.counts(scope, tick - window, tick, buffers)
            burns[format_duration(window)] = (e / n) / slo.budget if n else None
        return SloBudget(
            slo=slo.name,
            service=scope.service,
            scope=scope_fields(scope),
            scope_id=scope.id,
            objective=slo.objective,
            period_ms=slo.period_ms,
            at_ms=tick,
            since_ms=since,
            requests=requests,
            errors=errors,
            budget_remaining=remaining,
            burn_rates=burns,
        )

    def _first(self, scope: Scope, first_ms: int | None) -> int | None:
        """When the scope's counts begin: its roll-up's oldest, or the first pane seen (the
        buffer's, after a restart, is only where the rebuild began)."""
        rollup = self.rollups.get(scope.id)
        known = [t for t in (first_ms, rollup.first_ms if rollup else None) if t is not None]
        return min(known, default=None)

    def checkpoint(self, scope: Scope) -> dict[str, Any] | None:
        rollup = self.rollups.get(scope.id)
        if rollup is None:
            return None
        return {"kind": ROLLUP_KIND, "scope": scope.model_dump(), **rollup.encode()}
