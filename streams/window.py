"""Windows: panes of one scope merged over any length — what the evaluation stage decides on.

``WindowStats`` is the contract between stage 1's panes and stage 2's rules. ``merge_panes``
builds it (stage 1 owns the implementation; stage 2 only reads the result).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.panes import DeployRecord, PaneSummary, Scope

__all__ = ["WindowStats", "merge_panes"]


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
    raise NotImplementedError("stage 1 implements the window merge")
