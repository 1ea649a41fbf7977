"""Expected throughput per endpoint: a decayed average of the request rate that follows its
trend, learned from healthy time only.

The average is decayed requests over decayed seconds (one half-life for both), so a young
baseline is the plain mean and an old one leans on the recent past. It lags a steady decline
by its time constant, so it also keeps the average of that average (Brown's double exponential
smoothing): ``2·average − its average`` is the rate now. The trend may only *lower* the
expected rate, at most to ``trend_floor`` of the average, and unhealthy time is skipped so a
collapse cannot drag its own baseline down: why, and the numbers, in docs/design.md record 35
and docs/detection-quality.md, "The expected rate follows a decline".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from streams.policy.model import ThroughputPolicy

__all__ = ["Baseline", "Trend", "expected_rate", "learn", "skip", "trend"]


@dataclass(frozen=True)
class Baseline:
    requests: float = 0.0  # decayed request count
    seconds: float = 0.0  # decayed seconds observed
    history_ms: int = 0  # healthy time observed (not decayed)
    updated_ms: int | None = None  # event time of the last observation
    # decayed sum over seconds of the average itself (its average is this / ``seconds``);
    # None: a baseline checkpointed before the trend was learned, taken as no trend yet
    averaged: float | None = None


@dataclass(frozen=True)
class Trend:
    """The learned rate at ``Baseline.updated_ms`` and how fast it changes (requests/s²)."""

    average: float  # the decayed average, requests/s (lags a trend by τ)
    level: float  # the rate the trend puts at the last observation
    slope: float


def _time_constant_s(policy: ThroughputPolicy) -> float:
    return policy.half_life_ms / 1000.0 / math.log(2)


def learn(
    baseline: Baseline, requests: int, seconds: float, at_ms: int, policy: ThroughputPolicy
) -> Baseline:
    """Add ``requests`` served over the ``seconds`` ending at ``at_ms`` (healthy traffic)."""
    if seconds <= 0:
        return baseline
    decay = 1.0
    if baseline.updated_ms is not None:
        elapsed = max(0, at_ms - baseline.updated_ms)
        decay = 0.5 ** (elapsed / policy.half_life_ms)
    total = baseline.requests * decay + requests
    spent = baseline.seconds * decay + seconds
    averaged = baseline.requests if baseline.averaged is None else baseline.averaged
    return Baseline(
        requests=total,
        seconds=spent,
        history_ms=baseline.history_ms + round(seconds * 1000),
        updated_ms=at_ms,
        # the average over the interval is taken as the new one: exact enough at the 1 s steps
        # the engine learns in, and a longer step is the same sum in one term
        averaged=averaged * decay + total / spent * seconds,
    )


def skip(baseline: Baseline, at_ms: int) -> Baseline:
    """Leave the time up to ``at_ms`` out (the service was unhealthy)."""
    return replace(baseline, updated_ms=at_ms)


def trend(baseline: Baseline, policy: ThroughputPolicy) -> Trend | None:
    """The learned level and slope, or None while there is too little healthy history."""
    if baseline.history_ms < policy.min_history_ms or baseline.seconds <= 0:
        return None
    average = baseline.requests / baseline.seconds
    if baseline.history_ms < policy.half_life_ms:
        # minutes of traffic show no trend, only noise: the average of a young baseline is
        # the plain mean of a few Poisson counts, and its own average leans on the noisiest
        return Trend(average, average, 0.0)
    averaged = baseline.requests if baseline.averaged is None else baseline.averaged
    lagging = averaged / baseline.seconds
    slope = (average - lagging) / _time_constant_s(policy)
    return Trend(average, 2 * average - lagging, slope)


def expected_rate(
    baseline: Baseline, policy: ThroughputPolicy, at_ms: int | None = None
) -> float | None:
    """Requests per second expected at ``at_ms`` (default: the last observation), or None
    while there is too little healthy history: the trend's forecast, kept between
    ``trend_floor`` of the average and the average."""
    found = trend(baseline, policy)
    if found is None:
        return None
    lead_s = 0.0
    if at_ms is not None and baseline.updated_ms is not None:
        lead_s = (at_ms - baseline.updated_ms) / 1000.0
    forecast = found.level + found.slope * lead_s
    return min(found.average, max(forecast, policy.trend_floor * found.average))
