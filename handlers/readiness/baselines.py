"""The plan's pre-deployment baselines, measured on a service's live panes — pure.

    measure(service, panes, start_ms, end_ms) -> Measured

Over the window: requests and 5xx over every endpoint (the error rate), the p95 of every
request (one merged latency sketch, so the service's own p95 — not an endpoint's), and per
host the mean of its CPU and memory readings (a baseline is the usual level, not a spike; the
worst host stands for the service). A pane counts once: the latest revision of each
``pane_id`` (stage 1 refines panes that late events changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from schemas.panes import PaneSummary
from schemas.sketch import MergedSketch

__all__ = ["HostLoad", "Measured", "latest_revisions", "measure"]


@dataclass(frozen=True)
class HostLoad:
    host: str
    samples: int
    cpu_pct: float | None  # mean of its readings over the window
    mem_pct: float | None


@dataclass(frozen=True)
class Measured:
    """One service over [start_ms, end_ms)."""

    service: str
    start_ms: int
    end_ms: int
    requests: int = 0
    errors: int = 0
    p95_ms: float | None = None
    hosts: tuple[HostLoad, ...] = ()
    newest_pane_end_ms: int | None = None  # its latest pane of any scope: is it monitored?
    scopes: tuple[str, ...] = field(default_factory=tuple)  # "dimension key" of each scope

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def worst(self, reading: str) -> HostLoad | None:
        """The host with the highest mean ``cpu_pct`` or ``mem_pct``."""
        known = [h for h in self.hosts if getattr(h, reading) is not None]
        return max(known, key=lambda h: float(getattr(h, reading)), default=None)


def latest_revisions(panes: Iterable[PaneSummary]) -> list[PaneSummary]:
    found: dict[str, PaneSummary] = {}
    for pane in panes:
        held = found.get(pane.pane_id)
        if held is None or pane.revision > held.revision:
            found[pane.pane_id] = pane
    return sorted(found.values(), key=lambda p: (p.start_ms, p.pane_id))


def _p95(panes: Sequence[PaneSummary]) -> float | None:
    stats = [p.requests for p in panes if p.requests is not None and p.requests.count]
    if not stats:
        return None
    value = MergedSketch([s.latency for s in stats]).quantile(0.95)
    if value is None:
        return None
    low, high = min(s.min_ms for s in stats), max(s.max_ms for s in stats)
    return min(max(value, low), high)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _hosts(panes: Sequence[PaneSummary]) -> tuple[HostLoad, ...]:
    readings: dict[str, tuple[list[float], list[float], list[int]]] = {}
    for pane in panes:
        if pane.scope.dimension != "host" or pane.resource is None:
            continue
        cpu, mem, samples = readings.setdefault(pane.scope.key, ([], [], []))
        if pane.resource.cpu_last is not None:
            cpu.append(pane.resource.cpu_last)
        if pane.resource.mem_last is not None:
            mem.append(pane.resource.mem_last)
        samples.append(pane.resource.samples)
    return tuple(
        HostLoad(host, sum(samples), _mean(cpu), _mean(mem))
        for host, (cpu, mem, samples) in sorted(readings.items())
    )


def measure(service: str, panes: Iterable[PaneSummary], start_ms: int, end_ms: int) -> Measured:
    """The service's baselines over [start_ms, end_ms), from its panes that start inside."""
    own = [
        p
        for p in latest_revisions(panes)
        if p.scope.service == service and start_ms <= p.start_ms < end_ms
    ]
    requests = [p.requests for p in own if p.requests is not None]
    return Measured(
        service=service,
        start_ms=start_ms,
        end_ms=end_ms,
        requests=sum(r.count for r in requests),
        errors=sum(r.errors for r in requests),
        p95_ms=_p95(own),
        hosts=_hosts(own),
        newest_pane_end_ms=max((p.end_ms for p in own), default=None),
        scopes=tuple(sorted({f"{p.scope.dimension} {p.scope.key}" for p in own})),
    )
