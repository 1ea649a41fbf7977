"""The statistics behind a rule's ``confidence``: is a breach real, or the noise of few samples?

A rule with ``confidence: c`` breaches only when its comparison holds *and* the evidence is
strong enough at one-sided confidence ``c``: a Wilson score bound for proportions (it keeps
its coverage at small ``n`` and near 0 %, where the normal approximation does not), a
one-sided Poisson test together with the ratio for counts against an expected rate. When no
outcome could pass the test, the window cannot be judged at that confidence: the rule reports
``no_data``, never a silent pass. The tests and their thresholds: docs/detection-quality.md,
"Statistics that hold at low traffic". Pure functions; the normal quantile is
``statistics.NormalDist``.
"""

from __future__ import annotations

import math
from statistics import NormalDist

__all__ = ["poisson_cdf", "poisson_judgeable", "wilson_bounds", "z_score"]


def z_score(confidence: float) -> float:
    """The one-sided standard normal quantile: 0.95 → 1.645, 0.999 → 3.090."""
    return NormalDist().inv_cdf(confidence)


def wilson_bounds(events: int, trials: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of ``events`` successes in ``trials``, each bound one-sided
    at ``confidence`` (the true rate is above ``low`` with that confidence, below ``high``)."""
    if trials <= 0:
        return 0.0, 1.0
    z = z_score(confidence)
    p = events / trials
    z2n = z * z / trials
    center = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / trials + z2n / (4 * trials)) / (1 + z2n)
    return max(0.0, center - half), min(1.0, center + half)


def _log_pmf(k: int, lam: float) -> float:
    return k * math.log(lam) - lam - math.lgamma(k + 1)


def poisson_cdf(k: int, lam: float) -> float:
    """P(X ≤ k) for X ~ Poisson(lam). Summed from the term at ``k`` towards the tail that
    shrinks geometrically (exact to double precision, a few dozen terms even for large λ)."""
    if k < 0:
        return 0.0
    if lam <= 0:
        return 1.0
    if k < lam:  # terms below k shrink by i / lam each step
        term = total = 1.0
        for i in range(k, 0, -1):
            term *= i / lam
            total += term
            if term < 1e-17 * total:
                break
        return min(1.0, math.exp(_log_pmf(k, lam)) * total)
    term = total = 1.0  # terms above k shrink by lam / (i + 1): P(X ≤ k) = 1 - P(X > k)
    i = k + 1
    while term >= 1e-17 * total:
        term *= lam / (i + 1)
        total += term
        i += 1
    return max(0.0, 1.0 - math.exp(_log_pmf(k + 1, lam)) * total)


def poisson_judgeable(lam: float, confidence: float) -> bool:
    """Whether a drop to zero would be significant: e^-λ < 1 - confidence (λ > ln(1/α))."""
    return lam > -math.log(1.0 - confidence)
