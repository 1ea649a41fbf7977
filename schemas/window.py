"""Windows: panes of one scope merged over any length — what the evaluation stage decides on.

``WindowStats`` is the contract between stage 1's panes and stage 2's rules; ``merge_panes``
builds it from published panes, pure, so that stage 2 and the rollback's verify phase merge
windows without importing stage 1 (docs/design.md record 15). A pane counts when it is of the
scope and lies wholly inside the window; panes are deduplicated by ``pane_id`` (a second line
of defence behind stage 1's exactly-once) and taken in (start, partition) order, so "last"
means the latest pane that has the reading. Counts are exact sums; percentiles come from the
merged DDSketch (within alpha, 1 %, of the exact lower-rank percentile) clamped to the
window's exact min and max.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.panes import DeployRecord, PaneSummary, Scope
from schemas.sketch import MergedSketch

__all__ = ["WindowStats", "least_squares_slope", "merge_panes"]


@dataclass(frozen=True)
class WindowStats:
    """Aggregates of one scope over [start_ms, end_ms). ``None`` means "no samples"."""

    scope: Scope
    start_ms: int
    end_ms: int
    panes: int = 0
    # requests
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    rps: float = 0.0
    versions: dict[str, int] = field(default_factory=dict)
    # logs
    logs: int = 0
    log_errors: int = 0
    # resources
    resource_samples: int = 0
    cpu_last: float | None = None
    cpu_max: float | None = None
    mem_last: float | None = None
    mem_max: float | None = None
    # queues
    queue_samples: int = 0
    queue_depth_first: int | None = None  # depth of the earliest sample in the window
    queue_depth_last: int | None = None
    queue_depth_max: int | None = None
    queue_slope: float | None = None  # depth change per second (least squares); None if < 2 panes
    # bots
    bot_status: str | None = None
    bot_transitions: tuple[tuple[float, str], ...] = ()
    bot_crashes: int = 0
    # integrity
    integrity_checks: int = 0
    integrity_failures: int = 0
    integrity_detail: str | None = None
    # deploys
    deploys: tuple[DeployRecord, ...] = ()

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_ms - self.start_ms) / 1000.0)


def merge_panes(
    scope: Scope, panes: Iterable[PaneSummary], start_ms: int, end_ms: int
) -> WindowStats:
    """Merge the panes of ``scope`` that lie inside [start_ms, end_ms) into one window."""
    chosen = _select(scope, panes, start_ms, end_ms)
    seconds = max(0.0, (end_ms - start_ms) / 1000.0)
    return WindowStats(
        scope=scope,
        start_ms=start_ms,
        end_ms=end_ms,
        panes=len(chosen),
        **_requests(chosen, seconds),
        **_logs(chosen),
        **_resources(chosen),
        **_queues(chosen),
        **_bots(chosen),
        **_integrity(chosen),
        deploys=tuple(sorted((d for p in chosen for d in p.deploys), key=lambda d: d.ts)),
    )


def _select(
    scope: Scope, panes: Iterable[PaneSummary], start_ms: int, end_ms: int
) -> list[PaneSummary]:
    unique = {
        pane.pane_id: pane
        for pane in panes
        if pane.scope == scope and start_ms <= pane.start_ms and pane.end_ms <= end_ms
    }
    return sorted(unique.values(), key=lambda pane: (pane.start_ms, pane.partition or 0))


def _requests(panes: Sequence[PaneSummary], seconds: float) -> dict[str, Any]:
    stats = [pane.requests for pane in panes if pane.requests is not None and pane.requests.count]
    if not stats:
        return {}
    count, errors = sum(s.count for s in stats), sum(s.errors for s in stats)
    low, high = min(s.min_ms for s in stats), max(s.max_ms for s in stats)
    sketch = MergedSketch([s.latency for s in stats])

    def percentile(q: float) -> float | None:
        value = sketch.quantile(q)
        return None if value is None else min(max(value, low), high)

    versions: dict[str, int] = {}
    for s in stats:
        for version, n in s.versions.items():
            versions[version] = versions.get(version, 0) + n
    return {
        "requests": count,
        "errors": errors,
        "error_rate": errors / count,
        "p50_ms": percentile(0.50),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "min_ms": low,
        "max_ms": high,
        "rps": count / seconds if seconds else 0.0,
        "versions": versions,
    }


def _logs(panes: Sequence[PaneSummary]) -> dict[str, Any]:
    stats = [pane.logs for pane in panes if pane.logs is not None]
    return {"logs": sum(s.total for s in stats), "log_errors": sum(s.errors for s in stats)}


def _last(values: Iterable[float | None]) -> float | None:
    found = [value for value in values if value is not None]
    return found[-1] if found else None


def _largest(values: Iterable[float | None]) -> float | None:
    found = [value for value in values if value is not None]
    return max(found) if found else None


def _resources(panes: Sequence[PaneSummary]) -> dict[str, Any]:
    stats = [pane.resource for pane in panes if pane.resource is not None]
    if not stats:
        return {}
    return {
        "resource_samples": sum(s.samples for s in stats),
        "cpu_last": _last(s.cpu_last for s in stats),
        "cpu_max": _largest(s.cpu_max for s in stats),
        "mem_last": _last(s.mem_last for s in stats),
        "mem_max": _largest(s.mem_max for s in stats),
    }


def _queues(panes: Sequence[PaneSummary]) -> dict[str, Any]:
    with_queue = [pane for pane in panes if pane.queue is not None]
    stats = [pane.queue for pane in with_queue if pane.queue is not None]
    if not stats:
        return {}
    # One point per pane: its latest sample (at its event time when known).
    points = [
        (q.last_ts if q.last_ts is not None else pane.end_ms / 1000.0, float(q.depth_last))
        for pane, q in zip(with_queue, stats, strict=True)
    ]
    return {
        "queue_samples": sum(s.samples for s in stats),
        "queue_depth_first": stats[0].depth_first,
        "queue_depth_last": sorted(points, key=lambda point: point[0])[-1][1],
        "queue_depth_max": max(s.depth_max for s in stats),
        "queue_slope": least_squares_slope(points),
    }


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Slope of the least-squares line through (seconds, value) points; None if undefined."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


def _bots(panes: Sequence[PaneSummary]) -> dict[str, Any]:
    reports = [t for pane in panes if pane.bot is not None for t in pane.bot.transitions]
    if not reports:
        return {}
    transitions: list[tuple[float, str]] = []
    for ts, status in sorted(reports, key=lambda report: report[0]):  # stable
        if not transitions or transitions[-1][1] != status:
            transitions.append((ts, status))
    return {
        "bot_status": transitions[-1][1],
        "bot_transitions": tuple(transitions),
        "bot_crashes": sum(1 for _, status in transitions if status == "crashed"),
    }


def _integrity(panes: Sequence[PaneSummary]) -> dict[str, Any]:
    stats = [pane.integrity for pane in panes if pane.integrity is not None]
    if not stats:
        return {}
    details = [s.last_detail for s in stats if s.failures and s.last_detail is not None]
    return {
        "integrity_checks": sum(s.checks for s in stats),
        "integrity_failures": sum(s.failures for s in stats),
        "integrity_detail": details[-1] if details else None,
    }
