"""The statistics of a rule's ``confidence``: Wilson bounds, the Poisson test, and the
policy's checks that a rule asks only for a test its metric has."""

from __future__ import annotations

import math

import pytest

from schemas.panes import Scope
from schemas.window import WindowStats
from streams.evaluate.confidence import (
    poisson_cdf,
    poisson_judgeable,
    wilson_bounds,
    z_score,
)
from streams.evaluate.rules import MetricInput, observe
from streams.policy import PolicyInvalid, load_policy, parse_policy


def _direct_cdf(k: int, lam: float) -> float:
    return sum(math.exp(i * math.log(lam) - lam - math.lgamma(i + 1)) for i in range(k + 1))


@pytest.mark.parametrize(
    ("k", "lam"), [(0, 6.0), (2, 6.0), (14, 30.0), (6, 30.0), (30, 30.0), (40, 30.0),
                   (100, 50.0), (5, 0.5), (300, 600.0)],
)  # fmt: skip
def test_the_poisson_cdf_matches_the_direct_sum(k: int, lam: float) -> None:
    assert poisson_cdf(k, lam) == pytest.approx(_direct_cdf(k, lam), rel=1e-12, abs=1e-300)


def test_the_poisson_cdf_is_tiny_for_a_real_collapse_at_high_traffic() -> None:
    assert 0.0 <= poisson_cdf(1000, 2100.0) < 1e-100  # half the traffic of 70 req/s for 30 s


@pytest.mark.parametrize(
    ("events", "trials", "confidence", "low", "high"),
    [
        # reference values (Wilson 1927 score interval, one-sided z at the confidence)
        (0, 20, 0.95, 0.0, 0.1191),
        (3, 20, 0.95, 0.0616, 0.3218),
        (10, 20, 0.999, 0.2158, 0.7842),
        (105, 1000, 0.999, 0.0787, 0.1388),
        (20, 20, 0.999, 0.6768, 1.0),
    ],
)
def test_wilson_bounds(
    events: int, trials: int, confidence: float, low: float, high: float
) -> None:
    assert wilson_bounds(events, trials, confidence) == pytest.approx((low, high), abs=1e-4)


def test_one_sided_z_scores() -> None:
    assert (round(z_score(0.95), 3), round(z_score(0.999), 3)) == (1.645, 3.090)


@pytest.mark.parametrize(("lam", "judgeable"), [(13.8, False), (13.9, True), (6.0, False)])
def test_a_drop_to_zero_must_be_significant_to_judge(lam: float, judgeable: bool) -> None:
    assert poisson_judgeable(lam, 0.999999) is judgeable


def test_the_evidence_carries_the_bound_and_the_p_value() -> None:
    policy = load_policy()
    scope = Scope(service="s", dimension="endpoint", key="POST /api/search")
    window = WindowStats(scope, 0, 60_000, requests=2000, errors=400, error_rate=0.2)
    evidence = observe(policy.rule("core-error-rate-critical"), MetricInput(window)).evidence
    assert evidence.confidence == pytest.approx(0.999)
    assert evidence.bound == pytest.approx(wilson_bounds(400, 2000, 0.999)[0])
    quiet = WindowStats(scope, 0, 30_000, requests=3)
    data = MetricInput(quiet, covered_s=30.0, expected_rps=2.0)
    found = observe(policy.rule("throughput-collapse"), data)
    assert found.status == "breach"
    assert found.evidence.p_value == pytest.approx(_direct_cdf(3, 60.0))


RULE = """
rules:
  - name: r
    metric: METRIC
    comparison: "CMP"
    threshold: THRESHOLD
    confidence: CONF
    severity: HIGH
    response: investigate
"""


@pytest.mark.parametrize(
    ("metric", "cmp", "threshold", "conf", "expected"),
    [
        ("p95_ms", ">", "5s", "99%",
         "field confidence: p95_ms has no confidence test; expected one of error_rate"),
        ("throughput_ratio", ">", "150%", "99%",
         "field confidence: a confidence on throughput_ratio tests comparisons < and <= only"),
        ("error_rate", "==", "10%", "99%",
         "field confidence: a confidence on error_rate tests comparisons >, >=, < and <= only"),
        ("error_rate", ">", "10%", "100%",
         "field confidence: expected a confidence from 50% up to (not including) 100%, got 1"),
        ("error_rate", ">", "10%", "40%",
         "field confidence: expected a confidence from 50% up to (not including) 100%, got 0.4"),
    ],
)  # fmt: skip
def test_a_confidence_the_metric_cannot_test_is_refused(
    metric: str, cmp: str, threshold: str, conf: str, expected: str
) -> None:
    text = (
        RULE.replace("METRIC", metric)
        .replace("CMP", cmp)
        .replace("THRESHOLD", threshold)
        .replace("CONF", conf)
    )
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, "team.yaml")
    assert str(caught.value.problems[0]).startswith(f"team.yaml: rule r: {expected}")


def _error_window(requests: int, errors: int) -> MetricInput:
    scope = Scope(service="s", dimension="endpoint", key="POST /api/search")
    rate = errors / requests
    return MetricInput(
        WindowStats(scope, 0, 60_000, requests=requests, errors=errors, error_rate=rate)
    )


def test_a_precise_estimate_decides_at_the_crossing() -> None:
    """12,060 requests at 10.1% (200 req/s for a minute, just past S1's 10%): the 99.9% bound
    is 9.28%, within the built-in 10% tolerance (1 point) of the observed rate — it breaches
    now, not ~3 s later when the bound itself passes 10%."""
    rule = load_policy().rule("core-error-rate-critical")
    found = observe(rule, _error_window(12_060, 1218))
    assert found.evidence.bound is not None and found.evidence.bound < 0.10
    assert found.evidence.tolerance == pytest.approx(0.1)
    assert found.status == "breach"
    strict = observe(rule.model_copy(update={"tolerance": None}), _error_window(12_060, 1218))
    assert strict.status == "clear"


@pytest.mark.parametrize(("requests", "errors"), [(20, 4), (200, 25), (2000, 210)])
def test_an_imprecise_estimate_still_needs_the_bound_past_the_threshold(
    requests: int, errors: int
) -> None:
    """The same rule at low volume: observed past 10% but the bound below it and far from the
    observed rate — no breach, as before the tolerance."""
    found = observe(load_policy().rule("core-error-rate-critical"), _error_window(requests, errors))
    assert found.evidence.observed is not None and found.evidence.observed > 0.10
    assert found.status == "clear"


def test_the_summary_says_when_the_estimate_was_precise() -> None:
    from streams.evaluate.decide import _strength

    rule = load_policy().rule("core-error-rate-critical")
    precise = observe(rule, _error_window(12_060, 1218)).evidence
    assert "within 10% of the threshold: precise" in _strength(precise)
    loud = observe(rule, _error_window(2000, 400)).evidence
    assert "precise" not in _strength(loud)


TOLERANT = """
rules:
  - name: r
    metric: METRIC
    comparison: ">"
    threshold: THRESHOLD
    CONFtolerance: TOL
    severity: HIGH
    response: investigate
"""


@pytest.mark.parametrize(
    ("metric", "threshold", "conf", "tol", "expected"),
    [
        ("p95_ms", "5s", "", "10%",
         "field tolerance: p95_ms has no Wilson bound to tolerate; expected one of error_rate"),
        ("error_rate", "10%", "", "10%",
         "field tolerance: a tolerance qualifies a confidence; set confidence as well"),
        ("error_rate", "10%", "confidence: 99.9%\n    ", "0%",
         "field tolerance: expected a tolerance above 0% and below 100%, got 0"),
        ("error_rate", "10%", "confidence: 99.9%\n    ", "100%",
         "field tolerance: expected a tolerance above 0% and below 100%, got 1"),
    ],
)  # fmt: skip
def test_a_tolerance_without_a_bound_is_refused(
    metric: str, threshold: str, conf: str, tol: str, expected: str
) -> None:
    text = (
        TOLERANT.replace("METRIC", metric)
        .replace("THRESHOLD", threshold)
        .replace("CONF", conf)
        .replace("TOL", tol)
    )
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, "team.yaml")
    assert str(caught.value.problems[0]).startswith(f"team.yaml: rule r: {expected}")


def test_a_thin_window_stays_unjudgeable_whatever_the_tolerance() -> None:
    """One request without an error has a bound of 0%, at distance 0 from its estimate: the
    tolerance must not make it judgeable (it would count as clear towards a resolve)."""
    found = observe(load_policy().rule("core-error-rate-critical"), _error_window(1, 0))
    assert found.status == "no_data"


LOW = """
rules:
  - name: r
    metric: error_rate
    comparison: "<"
    threshold: 50%
    min_samples: 1
    confidence: 99.9%
    tolerance: 10%
    severity: LOW
    response: record
"""


@pytest.mark.parametrize(
    ("requests", "errors", "status"),
    [
        (12_000, 5_900, "breach"),  # 49.2%: upper bound 50.6%, within 5 points: precise
        (200, 80, "clear"),  # 40%: upper bound 50.9%, 11 points away: the bound decides
        (200, 50, "breach"),  # 25%: the upper bound itself is below 50%
        (3, 3, "no_data"),  # even no errors at all could not get the bound under 50%
    ],
)
def test_a_tolerance_for_a_rate_below_the_threshold(
    requests: int, errors: int, status: str
) -> None:
    rule = parse_policy(LOW, "team.yaml").rule("r")
    assert observe(rule, _error_window(requests, errors)).status == status


def test_slo_burn_rules_carry_the_tolerance_only_with_their_confidence() -> None:
    def slo(extra: str) -> str:
        return f"slos:\n  - name: a\n    objective: 99%\n    {extra}\nrules: []\n"

    policy = parse_policy(slo("tolerance: 20%").replace("rules: []\n", RULE_FOR_SLO), "t.yaml")
    assert {r.tolerance for r in policy.rules if r.slo} == {0.2}
    quiet = parse_policy(slo("confidence: null").replace("rules: []\n", RULE_FOR_SLO), "t.yaml")
    assert {r.tolerance for r in quiet.rules if r.slo} == {None}
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(slo("confidence: null\n    tolerance: 10%"), "t.yaml")
    assert str(caught.value.problems[0]) == (
        "t.yaml: field slos.0.tolerance: a tolerance qualifies a confidence; set confidence as well"
    )


RULE_FOR_SLO = """rules:
  - name: r
    metric: p95_ms
    comparison: ">"
    threshold: 5s
    severity: HIGH
    response: investigate
"""
