"""Expected throughput (learned baselines) and deploy awareness (versions, last good)."""

from __future__ import annotations

import pytest

from schemas.panes import DeployRecord
from streams.evaluate.baseline import Baseline, expected_rate, learn, skip
from streams.evaluate.deploys import (
    VersionTrack,
    after_deploy,
    after_health,
    after_served,
    in_post_deploy,
)
from streams.policy.model import DeployPolicy, ThroughputPolicy

THROUGHPUT = ThroughputPolicy(half_life="10m", min_history="20s")
DEPLOYS = DeployPolicy(post_deploy_window="15m", healthy_for="20s")


def _learn_seconds(baseline: Baseline, rate: float, seconds: int, start_ms: int) -> Baseline:
    for i in range(1, seconds + 1):
        baseline = learn(baseline, round(rate), 1.0, start_ms + i * 1000, THROUGHPUT)
    return baseline


def test_no_baseline_until_min_history() -> None:
    young = _learn_seconds(Baseline(), 70, 19, 0)
    assert expected_rate(young, THROUGHPUT) is None
    grown = _learn_seconds(young, 70, 1, 19_000)
    assert expected_rate(grown, THROUGHPUT) == pytest.approx(70.0)


def test_a_young_baseline_is_the_mean_and_an_old_one_follows_slowly() -> None:
    baseline = _learn_seconds(Baseline(), 100, 10, 0)
    baseline = _learn_seconds(baseline, 50, 10, 10_000)
    assert expected_rate(baseline, THROUGHPUT) == pytest.approx(75.0, rel=0.01)
    # an hour later at 50/s, the half-life of 10 minutes has forgotten the 100/s
    later = _learn_seconds(baseline, 50, 3600, 20_000)
    assert expected_rate(later, THROUGHPUT) == pytest.approx(50.0, rel=0.01)


def test_skipped_time_is_not_learned() -> None:
    baseline = _learn_seconds(Baseline(), 100, 30, 0)
    skipped = skip(baseline, 90_000)
    assert skipped.requests == baseline.requests and skipped.updated_ms == 90_000


def _deploy(at_s: float, version: str, status: str = "started") -> DeployRecord:
    return DeployRecord(ts=at_s, version=version, status=status)  # type: ignore[arg-type]


def _healthy(track: VersionTrack, from_ms: int, to_ms: int) -> VersionTrack:
    for at in range(from_ms, to_ms + 1, 1000):
        track = after_health(track, True, at, DEPLOYS)
    return track


def test_a_version_served_healthy_for_long_enough_becomes_last_good() -> None:
    track = after_served(VersionTrack(), {"2.3.9": 70}, 1000, DEPLOYS)
    track = _healthy(track, 1000, 20_000)
    assert track.last_good is None  # 19 s < 20 s
    track = _healthy(track, 21_000, 21_000)
    assert (track.current, track.last_good) == ("2.3.9", "2.3.9")


def test_a_deploy_opens_the_post_deploy_window_and_keeps_the_last_good() -> None:
    track = _healthy(after_served(VersionTrack(), {"2.3.9": 70}, 0, DEPLOYS), 0, 30_000)
    track = after_deploy(track, _deploy(30.0, "2.4.0"))
    assert (track.current, track.previous, track.last_good) == ("2.4.0", "2.3.9", "2.3.9")
    assert in_post_deploy(track, 30_000, DEPLOYS)
    assert in_post_deploy(track, 30_000 + 899_999, DEPLOYS)
    assert not in_post_deploy(track, 30_000 + 900_000, DEPLOYS)
    # healthy, but still inside its post-deploy window: not proven yet
    track = _healthy(track, 31_000, 120_000)
    assert track.last_good == "2.3.9"
    track = _healthy(track, 121_000, 931_000)
    assert track.last_good == "2.4.0"


def test_an_unhealthy_moment_restarts_the_healthy_clock() -> None:
    track = after_served(VersionTrack(), {"1.0": 5}, 0, DEPLOYS)
    track = _healthy(track, 0, 15_000)
    track = after_health(track, False, 16_000, DEPLOYS)
    track = _healthy(track, 17_000, 36_000)
    assert track.last_good is None
    track = _healthy(track, 37_000, 37_000)
    assert track.last_good == "1.0"


def test_rollback_returns_to_the_previous_version() -> None:
    track = _healthy(after_served(VersionTrack(), {"2.3.9": 70}, 0, DEPLOYS), 0, 30_000)
    track = after_deploy(track, _deploy(30.0, "2.4.0"))
    track = after_deploy(track, _deploy(31.0, "2.4.0", "succeeded"))
    assert track.current == "2.4.0" and track.deployed_at_ms == 30_000
    track = after_deploy(track, _deploy(60.0, "2.4.0", "rolled_back"))
    assert (track.current, track.last_good) == ("2.3.9", "2.3.9")


def test_traffic_before_the_deploy_record_still_opens_the_window() -> None:
    track = _healthy(after_served(VersionTrack(), {"2.3.9": 70}, 0, DEPLOYS), 0, 30_000)
    track = after_served(track, {"2.4.0": 60, "2.3.9": 10}, 31_000, DEPLOYS)
    assert track.current == "2.4.0" and track.deployed_at_ms is None
    track = after_deploy(track, _deploy(30.5, "2.4.0"))
    assert track.deployed_at_ms == 30_500 and track.previous == "2.3.9"


def test_inside_the_post_deploy_window_deploy_records_win_over_mixed_traffic() -> None:
    track = after_deploy(after_served(VersionTrack(), {"1": 9}, 0, DEPLOYS), _deploy(1.0, "2"))
    assert after_served(track, {"1": 9, "2": 1}, 2000, DEPLOYS).current == "2"
