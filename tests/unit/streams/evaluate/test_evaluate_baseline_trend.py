"""The expected throughput's trend: it follows a decline, never raises the expectation, and
never lowers it below ``trend_floor`` of the decayed average."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest

from streams.evaluate import codec
from streams.evaluate.baseline import Baseline, expected_rate, learn, trend
from streams.evaluate.deploys import VersionTrack
from streams.policy.model import ThroughputPolicy

POLICY = ThroughputPolicy(half_life="10m", min_history="20s")  # trend_floor 50% by default
AVERAGE_ONLY = ThroughputPolicy(half_life="10m", min_history="20s", trend_floor="100%")
HOUR = 3600
# 60 → 15 req/s over 3 hours (12 time constants: the start-up transient has died out); the
# average lags it by τ·slope ≈ 3.6 req/s, the trend does not
LONG = 3 * HOUR


def _learned(rate: Callable[[int], float], seconds: int, policy: ThroughputPolicy) -> Baseline:
    """One learning step a second (as the engine learns), the rate rounded as the count."""
    baseline = Baseline()
    for second in range(seconds):
        baseline = learn(baseline, round(rate(second)), 1.0, (second + 1) * 1000, policy)
    return baseline


def _linear(start: float, end: float, over: int) -> Callable[[int], float]:
    return lambda s: start + (end - start) * min(s, over) / over


def _average(baseline: Baseline) -> float:
    return baseline.requests / baseline.seconds


# (case, rate per second, seconds learned, policy, expected rate at the last observation)
EXPECTATIONS: list[tuple[str, Callable[[int], float], int, ThroughputPolicy, str]] = [
    ("flat: the average", lambda s: 70.0, HOUR, POLICY, "average"),
    ("a steady decline: the rate now", _linear(60, 15, LONG), LONG, POLICY, "rate now"),
    ("a rise: the average, never above it", _linear(30, 60, HOUR), HOUR, POLICY, "average"),
    # 60 → 6 in 20 minutes: faster than any demand the trend may explain
    ("a decline too steep: the floor", _linear(60, 6, 1200), 1200, POLICY, "floor"),
    ("trend_floor 100%: the average alone", _linear(60, 30, HOUR), HOUR, AVERAGE_ONLY, "average"),
    # under one half-life of history a slope is noise: the average
    ("a young baseline: the average", _linear(60, 30, 500), 500, POLICY, "average"),
]


@pytest.mark.parametrize(
    ("rate", "seconds", "policy", "want"),
    [case[1:] for case in EXPECTATIONS],
    ids=[case[0] for case in EXPECTATIONS],
)
def test_the_expected_rate_follows_a_decline_within_its_bounds(
    rate: Callable[[int], float], seconds: int, policy: ThroughputPolicy, want: str
) -> None:
    baseline = _learned(rate, seconds, policy)
    average = _average(baseline)
    found = expected_rate(baseline, policy)
    assert found is not None
    wanted = {
        "average": average,
        "rate now": rate(seconds - 1),
        "floor": policy.trend_floor * average,
    }[want]
    assert found == pytest.approx(wanted, rel=0.01)


def test_the_steady_decline_is_a_case_where_the_average_alone_lags() -> None:
    """The table's decline row is meaningful: the average is well above the rate now."""
    baseline = _learned(_linear(60, 15, LONG), LONG, POLICY)
    assert _average(baseline) > 18.0


def test_the_trend_recovers_the_slope_and_level_of_a_linear_rate() -> None:
    baseline = _learned(_linear(60, 15, LONG), LONG, POLICY)
    found = trend(baseline, POLICY)
    assert found is not None
    assert found.slope == pytest.approx(-45 / LONG, rel=0.05)
    assert found.level == pytest.approx(15.0, rel=0.01)


# (case, seconds ahead of the last observation, expected rate)
LEADS = [
    ("at the last observation", 0, 15.0),
    ("ten minutes on: further down", 600, 15.0 - 600 * 45 / LONG),
    ("half an hour on: no lower than the floor", HOUR // 2, None),
]


@pytest.mark.parametrize(("ahead_s", "want"), [c[1:] for c in LEADS], ids=[c[0] for c in LEADS])
def test_the_forecast_moves_with_the_time_judged(ahead_s: int, want: float | None) -> None:
    baseline = _learned(_linear(60, 15, LONG), LONG, POLICY)
    assert baseline.updated_ms is not None
    found = expected_rate(baseline, POLICY, baseline.updated_ms + ahead_s * 1000)
    floor = POLICY.trend_floor * _average(baseline)
    assert found == pytest.approx(floor if want is None else want, rel=0.01)


@pytest.mark.parametrize(
    "rate",
    [
        lambda s: 60.0 if s % 600 < 300 else 10.0,  # a square wave
        lambda s: 300.0 if 1800 <= s < 1920 else 60.0,  # a burst, then normal
        lambda s: 35 + 28 * math.sin(2 * math.pi * s / 5400),  # a 90-minute rhythm
        lambda s: float(s % 7),  # saw-tooth noise
    ],
    ids=["square", "burst", "rhythm", "sawtooth"],
)
def test_the_expected_rate_stays_between_the_floor_and_the_average(
    rate: Callable[[int], float],
) -> None:
    baseline = Baseline()
    for second in range(2 * HOUR):
        baseline = learn(baseline, round(rate(second)), 1.0, (second + 1) * 1000, POLICY)
        if second % 60 or second < 60:
            continue
        found = expected_rate(baseline, POLICY, (second + 16) * 1000)
        assert found is not None
        average = _average(baseline)
        assert POLICY.trend_floor * average - 1e-9 <= found <= average + 1e-9


def test_a_checkpoint_from_before_the_trend_decodes_as_no_trend_yet() -> None:
    learned = _learned(_linear(60, 30, HOUR), HOUR, POLICY)
    track = VersionTrack()
    value = codec.encode_service("shop-api", track, {"e": learned})
    assert codec.decode_service(value)[3] == {"e": learned}  # the trend survives a restart
    del value["baselines"]["e"]["averaged"]
    old = codec.decode_service(value)[3]["e"]
    assert old == replace(learned, averaged=None)
    assert expected_rate(old, POLICY) == pytest.approx(_average(learned))
    # and it learns its trend from there on
    later = old
    for second in range(HOUR, 2 * HOUR):
        count = round(30.0 - 15 * (second - HOUR) / HOUR)
        later = learn(later, count, 1.0, (second + 1) * 1000, POLICY)
    assert expected_rate(later, POLICY) == pytest.approx(15.0, rel=0.02)


def test_trend_floor_is_a_fraction_of_the_average() -> None:
    assert ThroughputPolicy().trend_floor == 0.5
    with pytest.raises(ValueError, match="share of the average from 0% to 100%"):
        ThroughputPolicy(trend_floor="150%")
