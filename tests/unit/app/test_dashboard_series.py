"""The graphs' numbers: rings reduced onto time grids, thresholds, firing intervals, the view."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.dashboard import Dashboard, FiringLog, PaneRing
from app.dashboard.ring import BOT_STATUSES, ScopeRing
from app.dashboard.series import Grid, bot_counts, forward_fill, rolling_slope, scope_series
from app.dashboard.thresholds import thresholds_for
from schemas.clock import ManualClock
from schemas.panes import Scope
from streams.policy import BotPolicy, load_policy
from tests.support.decisions import decision
from tests.unit.app.test_dashboard_ring import ENDPOINT, pane

POLICY = load_policy(None)


def _none(values: list[float | None]) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def test_a_grid_ends_on_a_step_and_spans_whole_steps() -> None:
    grid = Grid.ending(to_ms=10_500, span_ms=5_000, step_ms=1000)
    assert (grid.from_ms, grid.to_ms, grid.size) == (6_000, 11_000, 5)
    assert grid.times_s() == [6.0, 7.0, 8.0, 9.0, 10.0]


def test_endpoint_buckets_add_counts_and_keep_the_worst_percentile() -> None:
    ring = ScopeRing(ENDPOINT, 100)
    for start, (requests, errors, p95) in {
        1000: (100, 5, 300.0),
        2000: (100, 15, 900.0),
        3000: (50, 0, 200.0),
    }.items():
        ring.put(start, 0, 0, (requests, errors, 10.0, p95, p95 + 1))
    per_pane = scope_series(ring, Grid(0, 4000, 1000), 60_000, 0)
    assert _none(per_pane["requests"]) == [None, 100.0, 100.0, 50.0]  # no pane: a gap, not 0
    assert _none(per_pane["error_rate"]) == [None, 0.05, 0.15, 0.0]
    assert _none(per_pane["rps"]) == [None, 100.0, 100.0, 50.0]
    two_s = scope_series(ring, Grid(0, 4000, 2000), 60_000, 0)
    assert two_s["requests"] == [100.0, 150.0]
    assert two_s["error_rate"] == [0.05, pytest.approx(15 / 150, abs=1e-5)]
    assert two_s["rps"] == [50.0, 75.0]
    assert two_s["p95_ms"] == [300.0, 900.0]


def test_queue_growth_is_the_least_squares_slope_over_the_window() -> None:
    queue = Scope(service="s", dimension="queue", key="tasks")
    ring = ScopeRing(queue, 1000)
    for n in range(120):  # 2 tasks more every second
        ring.put(n * 1000, 0, 0, (float(2 * n), float(2 * n)))
    series = scope_series(ring, Grid(60_000, 120_000, 1000), 60_000, 0)
    assert series["depth"][:2] == [120.0, 122.0]
    assert series["growth"] == [pytest.approx(2.0)] * 60  # the window reaches before the grid


def test_rolling_slope_needs_two_points() -> None:
    times = np.arange(5, dtype=np.float64)
    values = np.array([np.nan, 3.0, np.nan, np.nan, 7.0])
    slope = rolling_slope(times, values, span=3)
    assert np.isnan(slope[:4]).all()  # each window holds one point at most
    values = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    assert rolling_slope(times, values, span=3).tolist()[1:] == [2.0] * 4


def test_bots_are_counted_by_the_policy_lists() -> None:
    code = {status: float(n) for n, status in enumerate(BOT_STATUSES)}
    rings = []
    for name, statuses in {
        "bot-1": ["online", "online", "crashed"],
        "bot-2": ["online", "error", "offline"],
    }.items():
        ring = ScopeRing(Scope(service="s", dimension="bot", key=name), 10)
        for n, status in enumerate(statuses):
            ring.put(n * 1000, 0, 0, (code[status],))
        rings.append(ring)
    counts = bot_counts(rings, Grid(0, 5000, 1000), BotPolicy(), hold_ms=0)
    assert _none(counts["bots_online"]) == [2.0, 1.0, 0.0, None, None]
    assert _none(counts["bots_errors"]) == [0.0, 1.0, 1.0, None, None]
    assert _none(counts["bots_offline"]) == [0.0, 0.0, 2.0, None, None]  # crashed too
    held = bot_counts(rings, Grid(0, 5000, 1000), BotPolicy(), hold_ms=1000)
    assert _none(held["bots_offline"]) == [0.0, 0.0, 2.0, 2.0, None]  # a report holds 1 s


def test_a_status_holds_until_the_next_report_or_the_limit() -> None:
    values = np.array([np.nan, 1.0, np.nan, np.nan, np.nan, 2.0, np.nan])
    assert _none(forward_fill(values, 2).tolist()) == [None, 1.0, 1.0, 1.0, None, 2.0, 2.0]


def test_the_policy_thresholds_of_a_core_endpoint() -> None:
    lines = {(t.series, t.rule, t.value) for t in thresholds_for(POLICY, ENDPOINT)}
    assert ("error_rate", "core-error-rate-critical", 0.10) in lines
    assert ("error_rate", "core-error-rate-high", 0.05) in lines
    assert ("p95_ms", "latency-p95-critical", 10_000.0) in lines
    other = Scope(service="chat-api", dimension="endpoint", key="GET /api/history")
    assert not any(t.series == "error_rate" for t in thresholds_for(POLICY, other))
    host = Scope(service="chat-api", dimension="host", key="web-1")
    assert {(t.series, t.value) for t in thresholds_for(POLICY, host)} == {
        ("cpu", 80.0),
        ("mem", 85.0),
    }


def test_firing_intervals_open_and_close_per_alert() -> None:
    log = FiringLog()
    scope = {"service": "chat-api", "endpoint": "POST /api/message"}
    log.add(decision(state="firing", at=10, scope=scope, seq=1))
    log.add(decision(state="firing", at=25, scope=scope, seq=2, previous="firing"))  # a turn
    log.add(decision(state="resolved", at=40, scope=scope, seq=3))
    log.add(decision(state="firing", at=70, scope=scope, seq=4))
    found = log.of(ENDPOINT, 0, 100_000)
    assert [(f.from_ms, f.to_ms) for f in found] == [(10_000, 40_000), (70_000, None)]
    assert [(f.from_ms, f.to_ms) for f in log.of(ENDPOINT, 45_000, 60_000)] == []
    log.prune(before_ms=50_000)
    assert [(f.from_ms, f.to_ms) for f in log.of(ENDPOINT, 0, 100_000)] == [(70_000, None)]


def _dashboard(ring: PaneRing, now_s: float = 100.0) -> Dashboard:
    return Dashboard(
        ring,
        FiringLog(),
        POLICY,
        ManualClock(now_s),
        pane_ms=1000,
        retention_s=3600,
        live_every_s=1.0,
        hold_ms=10_000,
    )


def test_the_overview_has_every_endpoint_and_counts_bots_on_the_service() -> None:
    ring = PaneRing(100, 100)
    ring.put(pane(90_000))
    ring.put(pane(91_000, Scope(service="chat-api", dimension="endpoint", key="GET /api/x")))
    ring.put(pane(90_000, Scope(service="chat-api", dimension="bot", key="b1"), bot={
        "last_status": "online"}))  # fmt: skip
    ring.put(pane(90_000, Scope(service="other", dimension="endpoint", key="GET /")))
    view = _dashboard(ring)
    found = view.series("chat-api", None, None, Grid.ending(100_000, 60_000, 1000))
    assert found is not None
    scopes = [(s["scope"]["dimension"], s["scope"]["key"]) for s in found["scopes"]]
    assert scopes == [
        ("endpoint", "GET /api/x"),
        ("endpoint", "POST /api/message"),
        ("service", "chat-api"),
    ]
    service = found["scopes"][-1]["series"]
    assert service["bots_online"][50] == 1.0
    assert len(found["t"]) == 60
    assert view.series("nope", None, None, Grid.ending(100_000, 60_000, 1000)) is None
    listed = view.scopes()["services"]
    assert listed["chat-api"][0] == {"dimension": "endpoint", "key": "GET /api/x"}
    assert listed["chat-api"][-1] == {"dimension": "bot", "key": "b1"}
