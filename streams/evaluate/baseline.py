"""Expected throughput per endpoint: a decayed average of the request rate, healthy time only.

The rate is decayed requests over decayed seconds (both decay with the same half-life), so a
young baseline is the plain mean and an old one leans on the recent past. Time during which
the service was unhealthy is skipped, so a collapse cannot drag its own baseline down.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from streams.policy.model import ThroughputPolicy

__all__ = ["Baseline", "expected_rate", "learn", "skip"]


@dataclass(frozen=True)
class Baseline:
    requests: float = 0.0  # decayed request count
    seconds: float = 0.0  # decayed seconds observed
    history_ms: int = 0  # healthy time observed (not decayed)
    updated_ms: int | None = None  # event time of the last observation


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
    return Baseline(
        requests=baseline.requests * decay + requests,
        seconds=baseline.seconds * decay + seconds,
        history_ms=baseline.history_ms + round(seconds * 1000),
        updated_ms=at_ms,
    )


def skip(baseline: Baseline, at_ms: int) -> Baseline:
    """Leave the time up to ``at_ms`` out (the service was unhealthy)."""
    return replace(baseline, updated_ms=at_ms)


def expected_rate(baseline: Baseline, policy: ThroughputPolicy) -> float | None:
    """Requests per second expected, or None while there is too little healthy history."""
    if baseline.history_ms < policy.min_history_ms or baseline.seconds <= 0:
        return None
    return baseline.requests / baseline.seconds
