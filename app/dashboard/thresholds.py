"""The policy's thresholds as lines on the graphs: which rule watches which series of a scope.

A rule's metric is drawn on one series of the scope it matches (``SERIES_OF_METRIC``);
metrics with no series of their own (log error counts, bot crash counts) are not drawn as
lines, though their firing intervals still shade the scope's graphs. The throughput rule's
threshold is relative to an expected rate: it becomes a line on requests/s only where the
policy configures that rate (a learned rate lives in stage 2, not here).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.panes import Scope
from streams.policy import Policy

__all__ = ["SERIES_OF_METRIC", "Threshold", "growth_window_ms", "thresholds_for"]

SERIES_OF_METRIC: dict[str, str] = {
    "error_rate": "error_rate",
    "p50_ms": "p50_ms",
    "p95_ms": "p95_ms",
    "p99_ms": "p99_ms",
    "request_rate": "rps",
    "throughput_ratio": "rps",
    "cpu_pct": "cpu",
    "cpu_max_pct": "cpu",
    "mem_pct": "mem",
    "mem_max_pct": "mem",
    "queue_depth": "depth",
    "queue_depth_max": "depth_max",
    "queue_growth": "growth",
    "bot_offline": "status",
    "bot_crashes": "status",
    "integrity_failures": "failures",
    "bots_offline": "bots_offline",
    "bot_errors": "bots_errors",
}
_DEFAULT_GROWTH_WINDOW_MS = 60_000


@dataclass(frozen=True)
class Threshold:
    series: str
    rule: str
    severity: str
    comparison: str
    value: float


def thresholds_for(policy: Policy, scope: Scope) -> list[Threshold]:
    """One line per rule that watches ``scope`` on a series the graphs show."""
    lines = []
    for rule in policy.rules:
        series = SERIES_OF_METRIC.get(rule.metric)
        if series is None or series == "status" or not rule.matches(scope):
            continue
        value: float | None = rule.threshold
        if rule.metric == "throughput_ratio":
            expected = policy.throughput.configured(scope)
            value = None if expected is None else rule.threshold * expected
        if value is not None:
            severity = rule.severity.value
            lines.append(Threshold(series, rule.name, severity, rule.comparison, value))
    return lines


def growth_window_ms(policy: Policy, scope: Scope) -> int:
    """The window a queue's growth is judged over (its first queue_growth rule's)."""
    for rule in policy.rules:
        if rule.metric == "queue_growth" and rule.matches(scope):
            return rule.window_ms
    return _DEFAULT_GROWTH_WINDOW_MS
