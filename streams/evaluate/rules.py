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
from streams.evaluate.backups import BackupTrack, age_ms
from streams.evaluate.confidence import poisson_cdf, poisson_judgeable, wilson_bounds
from streams.evaluate.state import Status
from streams.policy.model import BotPolicy, Comparison, Condition, Rule

__all__ = [
    "EXTRACTORS",
    "MetricInput",
    "Observation",
    "Reading",
    "compare",
    "decided_by_tolerance",
    "observe",
    "read",
]

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
    # (requests, 5xx) over every endpoint of the service, same window (service scopes)
    service_requests: tuple[int, int] = (0, 0)
    backups: BackupTrack | None = None  # dataset scopes: what its backups were so far


@dataclass(frozen=True)
class Reading:
    value: float | None
    samples: int
    events: int | None = None  # proportions: errors of `samples`; counts: requests observed
    expected: float | None = None  # counts: requests expected (the Poisson mean)


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
    """Samples are the requests expected in the covered part of the window: what a collapse
    is judged against (a quiet endpoint expects few, however long it was watched)."""
    rate = _rate(data)
    if rate.value is None or not data.expected_rps:
        return Reading(None, 0)
    expected = data.expected_rps * data.covered_s
    observed = data.window.requests
    return Reading(rate.value / data.expected_rps, int(expected), observed, expected)


Extractor = Callable[[MetricInput], Reading]


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


def _service_error_rate(data: MetricInput) -> Reading:
    requests, errors = data.service_requests
    return Reading(errors / requests if requests else None, requests, errors)


def _backup_age(kind: str | None) -> Extractor:
    """Age of the newest successful backup (of ``kind``) at the window's end; samples: such
    backups on record."""

    def read(data: MetricInput) -> Reading:
        track = data.backups
        if track is None:
            return Reading(None, 0)
        age = age_ms(track, track.newest(kind), data.window.end_ms)
        return Reading(age, track.count(kind))

    return read


def _restore_test_age(data: MetricInput) -> Reading:
    track = data.backups
    if track is None:
        return Reading(None, 0)
    return Reading(age_ms(track, track.tested_ms, data.window.end_ms), track.tests_passed)


def _backup_failures(data: MetricInput) -> Reading:
    track = data.backups
    if track is None:
        return Reading(None, 0)
    return Reading(float(len(track.failing)), len(track.latest_ms))


def _bot_reading(data: MetricInput, value: float) -> Reading:
    return Reading(value if data.window.panes else None, data.window.panes)


EXTRACTORS: dict[str, Extractor] = {
    "error_rate": lambda d: Reading(d.window.error_rate, d.window.requests, d.window.errors),
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
    "service_error_rate": _service_error_rate,
    "bots_offline": _bots_offline,
    "bot_errors": _bot_errors,
    "backup_age": _backup_age(None),
    "full_backup_age": _backup_age("full"),
    "offsite_backup_age": _backup_age("offsite"),
    "restore_test_age": _restore_test_age,
    "backup_failures": _backup_failures,
}


def read(metric: str, data: MetricInput) -> Reading:
    return EXTRACTORS[metric](data)


def _holds(condition: Condition, data: MetricInput) -> bool:
    reading = read(condition.metric, data)
    return reading.value is not None and compare(
        reading.value, condition.comparison, condition.threshold
    )


@dataclass(frozen=True)
class _Test:
    """A confidence test's verdict: passed, or could not pass whatever the outcome."""

    passed: bool
    judgeable: bool = True
    bound: float | None = None
    p_value: float | None = None


def _proportion(rule: Rule, reading: Reading, confidence: float) -> _Test:
    """The Wilson bound on the far side of the threshold must be past it — or, with a
    ``tolerance``, within tolerance × threshold of the observed rate: an estimate that
    precise decides alone. A window where even all or none of the samples being events
    could not get the bound past the threshold cannot be judged."""
    trials, events = reading.samples, reading.events or 0
    low, high = wilson_bounds(events, trials, confidence)
    above = rule.comparison in (">", ">=")
    bound = low if above else high
    best = wilson_bounds(trials if above else 0, trials, confidence)[0 if above else 1]
    observed = events / trials if trials > 0 else None
    return _Test(
        passed=compare(bound, rule.comparison, rule.threshold)
        or decided_by_tolerance(observed, bound, rule.comparison, rule.threshold, rule.tolerance),
        # What the outcome could show, never what it did: a thin window stays unjudgeable
        # (an estimate of 0% errors has a bound of 0%, "precise" by distance alone).
        judgeable=compare(best, rule.comparison, rule.threshold),
        bound=bound,
    )


def decided_by_tolerance(
    observed: float | None,
    bound: float | None,
    comparison: Comparison,
    threshold: float,
    tolerance: float | None,
) -> bool:
    """Whether the tolerance, not the bound, let a breach through: the observed value is past
    the threshold, the bound is not, and the bound is within tolerance × threshold of it."""
    if tolerance is None or observed is None or bound is None:
        return False
    return (
        compare(observed, comparison, threshold)
        and not compare(bound, comparison, threshold)
        and abs(observed - bound) <= tolerance * threshold
    )


def _poisson(reading: Reading, confidence: float) -> _Test:
    """One-sided: seeing this few requests when ``expected`` were due is improbable."""
    expected = reading.expected or 0.0
    p_value = poisson_cdf(reading.events or 0, expected)
    return _Test(
        passed=p_value < 1.0 - confidence,
        judgeable=poisson_judgeable(expected, confidence),
        p_value=p_value,
    )


def _test(rule: Rule, reading: Reading) -> _Test | None:
    if rule.confidence is None:
        return None
    if rule.info.test == "poisson":
        return _poisson(reading, rule.confidence)
    return _proportion(rule, reading, rule.confidence)


def _status(rule: Rule, reading: Reading, data: MetricInput, test: _Test | None) -> Status:
    if reading.value is None or reading.samples < rule.min_samples:
        return "no_data"
    if test is not None and not test.judgeable:
        return "no_data"  # no outcome could show a breach at this confidence: cannot judge
    breached = compare(reading.value, rule.comparison, rule.threshold)
    if test is not None:
        breached = breached and test.passed
    # Side conditions join other signals (e.g. bot errors); one that cannot be read is false.
    if breached and all(_holds(extra, data) for extra in rule.also):
        return "breach"
    return "clear"


def observe(rule: Rule, data: MetricInput, short: MetricInput | None = None) -> Observation:
    """Evaluate ``rule`` on one scope's window, and on its short window when it has one
    (multi-window: it breaches only when both do; no data on either is no data)."""
    found = _observe(rule, data)
    if rule.short_window_ms is None or short is None:
        return found
    brief = _observe(rule, short)
    statuses = {found.status, brief.status}
    status: Status = (
        "no_data" if "no_data" in statuses else "breach" if statuses == {"breach"} else "clear"
    )
    evidence = found.evidence.model_copy(
        update={
            "short_window_start_ms": brief.evidence.window_start_ms,
            "short_observed": brief.evidence.observed,
        }
    )
    return Observation(status, evidence)


def _observe(rule: Rule, data: MetricInput) -> Observation:
    reading = read(rule.metric, data)
    counted = reading.value is not None and reading.samples >= rule.min_samples
    test = _test(rule, reading) if counted else None
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
        confidence=rule.confidence,
        tolerance=rule.tolerance,
        bound=test.bound if test is not None else None,
        p_value=test.p_value if test is not None else None,
    )
    return Observation(_status(rule, reading, data, test), evidence)
