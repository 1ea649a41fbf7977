"""What the dashboard's routes answer: scopes, series on a grid, thresholds, firing, deploys.

``Dashboard`` reads the ring and the firing log that ``DashboardFeed`` fills (one event loop:
no locks) and shapes the JSON of ``GET /api/scopes`` and ``GET /api/series`` (docs/api.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from app.dashboard.firing import FiringLog
from app.dashboard.ring import PaneRing, ScopeRing
from app.dashboard.series import Grid, bot_counts, scope_series
from app.dashboard.thresholds import (
    SERIES_OF_METRIC,
    Threshold,
    growth_window_ms,
    thresholds_for,
)
from schemas.clock import Clock
from schemas.panes import Dimension, Scope
from streams.policy import Policy

__all__ = ["OVERVIEW", "Dashboard", "not_found"]

# The scopes of a service overview, in the order the page shows them (bots are counted on the
# service's own scope; one bot at a time is asked for with dimension=bot).
OVERVIEW: tuple[Dimension, ...] = ("endpoint", "host", "queue", "check", "service")


class Dashboard:
    def __init__(
        self,
        ring: PaneRing,
        firing: FiringLog,
        policy: Policy,
        clock: Clock,
        *,
        pane_ms: int,
        retention_s: int,
        live_every_s: float,
        hold_ms: int,
    ) -> None:
        self.ring = ring
        self.firing = firing
        self.policy = policy
        self.clock = clock
        self.pane_ms = pane_ms
        self.retention_s = retention_s
        self.live_every_s = live_every_s
        self.hold_ms = hold_ms  # how long a bot's reported status holds (stage 2's idle_after)
        self.closing = asyncio.Event()  # set when the feed stops: live streams end
        self._lines: dict[str, list[dict[str, Any]]] = {}

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def scopes(self) -> dict[str, Any]:
        services: dict[str, list[dict[str, str]]] = {}
        for ring in self.ring:
            scope = ring.scope
            services.setdefault(scope.service, []).append(
                {"dimension": scope.dimension, "key": scope.key}
            )
        return {
            "services": {
                name: sorted(found, key=lambda s: (_rank(s["dimension"]), s["key"]))
                for name, found in sorted(services.items())
            },
            "pane_ms": self.pane_ms,
            "retention_s": self.retention_s,
            "live_every_s": self.live_every_s,
        }

    def _chosen(
        self, service: str, dimension: Dimension | None, key: str | None
    ) -> list[ScopeRing]:
        rings = [r for r in self.ring if r.scope.service == service]
        if dimension is None:
            rings = [r for r in rings if r.scope.dimension in OVERVIEW]
        else:
            rings = [r for r in rings if r.scope.dimension == dimension]
        if key is not None:
            rings = [r for r in rings if r.scope.key == key]
        return sorted(rings, key=lambda r: (_rank(r.scope.dimension), r.scope.key))

    def series(
        self,
        service: str,
        dimension: Dimension | None,
        key: str | None,
        grid: Grid,
        marks: Grid | None = None,
    ) -> dict[str, Any] | None:
        """The payload of ``GET /api/series``; None when no pane of the scopes asked for is
        in the ring (``not_found`` says so in words). Firing intervals and
        deploys are those of ``marks`` (default: the grid): a live update's grid is its last
        seconds, its marks the whole window."""
        marks = marks or grid
        rings = self._chosen(service, dimension, key)
        bots = [r for r in self.ring if r.scope.service == service and r.scope.dimension == "bot"]
        wants_service = dimension in (None, "service") and key in (None, service)
        if wants_service and bots and not any(r.scope.dimension == "service" for r in rings):
            rings.append(ScopeRing(Scope(service=service, dimension="service", key=service), 1))
        if not rings:
            return None
        scopes = [self._scope(ring, grid, marks, bots) for ring in rings]
        deploys = [
            d.model_dump()
            for d in self.ring.deploys(service)
            if marks.from_ms <= d.ts * 1000 < marks.to_ms
        ]
        return {
            "service": service,
            "from_ms": grid.from_ms,
            "to_ms": grid.to_ms,
            "step_ms": grid.step_ms,
            "t": grid.times_s(),
            "scopes": scopes,
            "deploys": deploys,
        }

    def _scope(
        self, ring: ScopeRing, grid: Grid, marks: Grid, bots: list[ScopeRing]
    ) -> dict[str, Any]:
        scope = ring.scope
        series = scope_series(ring, grid, growth_window_ms(self.policy, scope), self.hold_ms)
        if scope.dimension == "service" and bots:
            series.update(bot_counts(bots, grid, self.policy.bots, self.hold_ms))
        firing = self.firing.of(scope, marks.from_ms, marks.to_ms)
        return {
            "scope": {"service": scope.service, "dimension": scope.dimension, "key": scope.key},
            "series": series,
            "thresholds": self._thresholds(scope),
            "firing": [{**asdict(f), "series": SERIES_OF_METRIC.get(f.metric)} for f in firing],
        }

    def _thresholds(self, scope: Scope) -> list[dict[str, Any]]:
        """The policy is fixed for the process: each scope's lines are worked out once."""
        lines = self._lines.get(scope.id)
        if lines is None:
            if len(self._lines) > 2 * self.ring.max_scopes:  # evicted scopes' lines
                self._lines.clear()
            found: list[Threshold] = thresholds_for(self.policy, scope)
            lines = self._lines[scope.id] = [asdict(t) for t in found]
        return lines


def _rank(dimension: str) -> int:
    order: tuple[str, ...] = (*OVERVIEW, "bot")
    return order.index(dimension) if dimension in order else len(order)


def not_found(service: str, dimension: str | None, key: str | None) -> str:
    what = " ".join(x for x in (service, dimension, key) if x)
    return f"no panes of {what!r} in the dashboard's memory (unknown, or quiet for its retention)"
