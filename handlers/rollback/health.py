"""Verify's port: is the service back under the baseline? And the pure judgement of panes.

``HealthProbe.is_healthy(service, since) -> (healthy, evidence)`` is what the orchestrator's verify
phase asks, every ``verify_every_s``, until yes or the verify budget is spent. ``judge`` reads
the panes of the last ``verify_window_s`` seconds: healthy means enough requests
(``verify_min_requests``; fewer is "no data", never a pass), error rate under
``baseline_error_rate`` and p95 under ``baseline_p95_ms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from handlers.config import RollbackConfig
from schemas.panes import PaneSummary, Scope
from schemas.window import WindowStats, merge_panes

__all__ = ["HealthProbe", "judge", "window_of"]


class HealthProbe(Protocol):
    async def is_healthy(
        self, service: str, since: float | None = None, *, drill: str | None = None
    ) -> tuple[bool, dict[str, Any]]:
        """Judge the last ``verify_window_s`` of ``service``'s panes, none starting before
        ``since`` (epoch s: when verify began, so traffic of the bad version never counts);
        with ``drill``, that DR drill's panes of it (without, the real traffic's only)."""
        ...


def _combine(
    scope: Scope, windows: Sequence[WindowStats], start_ms: int, end_ms: int
) -> WindowStats:
    """Several scopes (endpoints) of one service as one window: counts add up; the slowest
    endpoint's p95 stands for the service (an upper bound, never an optimistic one)."""
    requests = sum(w.requests for w in windows)
    errors = sum(w.errors for w in windows)
    return WindowStats(
        scope=scope,
        start_ms=start_ms,
        end_ms=end_ms,
        panes=sum(w.panes for w in windows),
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else None,
        p95_ms=max((w.p95_ms for w in windows if w.p95_ms is not None), default=None),
        max_ms=max((w.max_ms for w in windows if w.max_ms is not None), default=None),
    )


def window_of(
    service: str,
    panes: Sequence[PaneSummary],
    start_ms: int,
    end_ms: int,
    drill: str | None = None,
) -> WindowStats:
    """The service's request panes in [start_ms, end_ms) as one window (all its endpoints);
    a drill's panes and the real ones never mix."""
    scope = Scope(service=service, dimension="service", key=service, drill=drill)
    inside = [
        p
        for p in panes
        if p.scope.service == service
        and p.scope.drill == drill
        and p.requests is not None
        and start_ms <= p.start_ms < end_ms
    ]
    by_scope: dict[Scope, list[PaneSummary]] = {}
    for pane in inside:
        by_scope.setdefault(pane.scope, []).append(pane)
    windows = [merge_panes(s, ps, start_ms, end_ms) for s, ps in by_scope.items()]
    return _combine(scope, windows, start_ms, end_ms)


def judge(window: WindowStats, cfg: RollbackConfig) -> tuple[bool, dict[str, Any]]:
    p95 = window.p95_ms if window.p95_ms is not None else window.max_ms
    evidence: dict[str, Any] = {
        "window_start_ms": window.start_ms,
        "window_end_ms": window.end_ms,
        "requests": window.requests,
        "errors": window.errors,
        "error_rate": window.error_rate,
        "p95_ms": p95,
        "p95_source": "sketch" if window.p95_ms is not None else "max_ms",
        "baseline_error_rate": cfg.baseline_error_rate,
        "baseline_p95_ms": cfg.baseline_p95_ms,
    }
    if window.requests < cfg.verify_min_requests or window.error_rate is None:
        return False, {**evidence, "verdict": "no data: too few requests to judge"}
    if window.error_rate >= cfg.baseline_error_rate:
        return False, {**evidence, "verdict": "error rate above baseline"}
    if p95 is not None and p95 >= cfg.baseline_p95_ms:
        return False, {**evidence, "verdict": "p95 latency above baseline"}
    return True, {**evidence, "verdict": "back under the baseline"}
