"""Rule evaluation: a window's value of a metric, compared with the rule's threshold.

``observe`` is pure: it turns a ``MetricInput`` (the scope's window and what the metric may
need beside it) into an ``Observation`` — breach, clear or no_data — with its evidence.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.decisions import Evidence
from schemas.window import WindowStats
from streams.evaluate.state import Status
from streams.policy.model import BotPolicy, Comparison, Condition, Rule

__all__ = ["EXTRACTORS", "MetricInput", "Observation", "Reading", "compare", "observe", "read"]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def compare(observed: float, comparison: Comparison, threshold: float) -> bool:
    """``observed comparison threshold``; exactly 10% is not above 10%."""
    return _COMPARE[comparison](observed, threshold)


@dataclass(frozen=True)
class MetricInput:
    """Everything a metric may read for one scope at one evaluation."""

    window: WindowStats
    covered_s: float = 0.0  # seconds of the window the scope has been known
    expected_rps: float | None = None  # throughput baseline, None until one exists
    bot_windows: tuple[WindowStats, ...] = ()  # the service's bots, same window
    bots: BotPolicy = field(default_factory=BotPolicy)


@dataclass(frozen=True)
class Reading:
    value: float | None
    samples: int


@dataclass(frozen=True)
class Observation:
    status: Status
    evidence: Evidence


def _requests(window: WindowStats, value: float | None) -> Reading:
    return Reading(value, window.requests)


def _rate(data: MetricInput) -> Reading:
    covered = data.covered_s
    value = data.window.requests / covered if covered > 0 else None
    return Reading(value, int(covered))


def _throughput_ratio(data: MetricInput) -> Reading:
    rate = _rate(data)
    if rate.value is None or not data.expected_rps:
        return Reading(None, rate.samples)
    return Reading(rate.value / data.expected_rps, rate.samples)


def _float(value: int | float | None) -> float | None:
    return None if value is None else float(value)


def _crashes(window: WindowStats, bots: BotPolicy) -> int:
    crashes, previous = 0, None
    for _, status in window.bot_transitions:
        if status in bots.crash and previous not in bots.crash:
            crashes += 1
        previous = status
    return crashes


def _is_offline(window: WindowStats, bots: BotPolicy) -> bool:
    return window.bot_status in bots.offline


def _has_errors(window: WindowStats, bots: BotPolicy) -> bool:
    return any(status in bots.errors for _, status in window.bot_transitions)


def _known_bots(data: MetricInput) -> list[WindowStats]:
    return [w for w in data.bot_windows if w.bot_status is not None]


def _bots_offline(data: MetricInput) -> Reading:
    known = _known_bots(data)
    return Reading(float(sum(_is_offline(w, data.bots) for w in known)), len(known))


def _bot_errors(data: MetricInput) -> Reading:
    known = _known_bots(data)
    return Reading(float(sum(_has_errors(w, data.bots) for w in known)), len(known))


def _bot_reading(data: MetricInput, value: float) -> Reading:
    return Reading(value if data.window.panes else None, data.window.panes)


Extractor = Callable[[MetricInput], Reading]

EXTRACTORS: dict[str, Extractor] = {
    "error_rate": lambda d: _requests(d.window, d.window.error_rate),
    "p50_ms": lambda d: _requests(d.window, d.window.p50_ms),
    "p95_ms": lambda d: _requests(d.window, d.window.p95_ms),
    "p99_ms": lambda d: _requests(d.window, d.window.p99_ms),
    "request_rate": _rate,
    "throughput_ratio": _throughput_ratio,
    "log_errors": lambda d: Reading(float(d.window.log_errors), d.window.logs),
    "cpu_pct": lambda d: Reading(d.window.cpu_last, d.window.resource_samples),
    "cpu_max_pct": lambda d: Reading(d.window.cpu_max, d.window.resource_samples),
    "mem_pct": lambda d: Reading(d.window.mem_last, d.window.resource_samples),
    "mem_max_pct": lambda d: Reading(d.window.mem_max, d.window.resource_samples),
    "queue_depth": lambda d: Reading(_float(d.window.queue_depth_last), d.window.queue_samples),
    "queue_depth_max": lambda d: Reading(_float(d.window.queue_depth_max), d.window.queue_samples),
    "queue_growth": lambda d: Reading(d.window.queue_slope, d.window.queue_samples),
    "bot_crashes": lambda d: _bot_reading(d, float(_crashes(d.window, d.bots))),
    "bot_offline": lambda d: _bot_reading(d, float(_is_offline(d.window, d.bots))),
    "integrity_failures": lambda d: Reading(
        float(d.window.integrity_failures), d.window.integrity_checks
    ),
    "bots_offline": _bots_offline,
    "bot_errors": _bot_errors,
}


def read(metric: str, data: MetricInput) -> Reading:
    return EXTRACTORS[metric](data)


def _holds(condition: Condition, data: MetricInput) -> bool:
    reading = read(condition.metric, data)
    return reading.value is not None and compare(
        reading.value, condition.comparison, condition.threshold
    )


def _status(rule: Rule, reading: Reading, data: MetricInput) -> Status:
    if reading.value is None or reading.samples < rule.min_samples:
        return "no_data"
    breached = compare(reading.value, rule.comparison, rule.threshold)
    # Side conditions join other signals (e.g. bot errors); one that cannot be read is false.
    if breached and all(_holds(extra, data) for extra in rule.also):
        return "breach"
    return "clear"


def observe(rule: Rule, data: MetricInput) -> Observation:
    """Evaluate ``rule`` on one scope's window."""
    reading = read(rule.metric, data)
    window = data.window
    evidence = Evidence(
        metric=rule.metric,
        window_start_ms=window.start_ms,
        window_end_ms=window.end_ms,
        observed=reading.value,
        comparison=rule.comparison,
        threshold=rule.threshold,
        samples=max(0, reading.samples),
        min_samples=rule.min_samples,
    )
    return Observation(_status(rule, reading, data), evidence)
