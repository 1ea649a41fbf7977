"""Roll-ups and SLOs: bounded counts over days, exact where aligned, fair at the old edge;
burn-rate rules on windows longer than the pane buffer; budgets; restarts count once."""

from __future__ import annotations

import random
from typing import Any

import pytest

from schemas.panes import LatencySketch, PaneSummary, RequestStats, Scope
from streams.evaluate.engine import EngineConfig, Evaluation, Output
from streams.evaluate.rollup import DAY_MS, HOUR_MS, MINUTE_MS, RollUp
from streams.policy import PolicyInvalid, parse_policy

T0 = 1_700_006_400_000  # a day boundary (UTC)


def _filled(
    days: float, step_ms: int = 30_000, seed: int = 1
) -> tuple[RollUp, dict[int, tuple[int, int]], int]:
    rng = random.Random(seed)
    rollup, exact, t = RollUp(), {}, T0
    while t < T0 + days * DAY_MS:
        n = rng.randint(0, 50)
        e = rng.randint(0, n // 5)
        rollup.add(t, n, e)
        exact[t] = (n, e)
        t += step_ms
    rollup.rolled_until_ms = t
    return rollup, exact, t


def _exact(exact: dict[int, tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    inside = [v for k, v in exact.items() if start <= k < end]
    return sum(n for n, _ in inside), sum(e for _, e in inside)


ROLLED, EXACT, END = _filled(5)


@pytest.mark.parametrize(
    "length", [5 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS, 6 * HOUR_MS, 3 * DAY_MS, 5 * DAY_MS]
)
def test_windows_aligned_to_buckets_are_exact(length: int) -> None:
    counts = ROLLED.counts(END - length, END)
    assert (round(counts.requests), round(counts.errors)) == _exact(EXACT, END - length, END)


def test_a_window_starting_inside_a_bucket_counts_it_pro_rata() -> None:
    start = END - 3 * DAY_MS - 1_234_000  # 20 min 34 s into an hour bucket
    counts = ROLLED.counts(start, END)
    requests, _ = _exact(EXACT, start, END)
    assert abs(counts.requests - requests) / requests < 0.002


def test_state_is_bounded_by_the_rings_not_by_the_time_covered() -> None:
    sizes = [len(level.buckets()) for level in ROLLED.levels]
    assert sizes == [120, 73, 2]  # 2 h of minutes, 73 h of hours, the 2 days before
    longer, _, _ = _filled(40)
    assert [len(level.buckets()) for level in longer.levels] == [120, 73, 31]


def test_a_checkpoint_decodes_to_the_same_counts() -> None:
    again = RollUp.decode(ROLLED.encode())
    for length in (HOUR_MS, 3 * DAY_MS):
        assert again.counts(END - length, END) == ROLLED.counts(END - length, END)
    assert again.rolled_until_ms == ROLLED.rolled_until_ms


# --- SLOs in the engine ----------------------------------------------------------------------

SLO_POLICY = """
slos:
  - name: availability
    objective: 99%
    per: service
rules:
  - name: fast-errors
    metric: error_rate
    comparison: ">"
    threshold: 50%
    severity: CRITICAL
    response: rollback
"""
SCOPE = Scope(service="svc", dimension="endpoint", key="GET /api/items")


def _pane(start_ms: int, requests: int, errors: int) -> PaneSummary:
    return PaneSummary(
        pane_id=PaneSummary.make_id(SCOPE, start_ms),
        scope=SCOPE,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        requests=RequestStats(
            count=requests,
            errors=errors,
            latency=LatencySketch(alpha=0.01, offset=300, counts=[requests]),
            min_ms=20.0,
            max_ms=80.0,
        ),
    )


def _run(engine: Evaluation, seconds: range, errors_at: Any) -> Output:
    out = Output()
    for s in seconds:
        engine.add(_pane(T0 + s * 1000, 10, errors_at(s)))
        out.extend(engine.advance())
    return out


def _fast_burn(s: int) -> int:
    """20% errors from the 40th minute on (burn 20x a 1% budget), none before."""
    return 2 if s >= 40 * 60 else 0


def test_a_fast_burn_pages_on_windows_far_longer_than_the_pane_buffer() -> None:
    policy = parse_policy(SLO_POLICY)
    engine = Evaluation(policy)
    out = _run(engine, range(0, 80 * 60), _fast_burn)
    fired = [d.state for d in out.decisions if d.rule == "slo-availability-page-fast"]
    # The hour window holds 40 minutes at 20% at minute 80: 13.3% < 14.4%, no page yet
    assert "firing" not in fired
    assert len(engine.service("svc").buffer(SCOPE)) <= 91  # the buffer stays ~1.5 min
    more = _run(engine, range(80 * 60, 100 * 60), _fast_burn)
    fired = [d for d in more.decisions if d.rule == "slo-availability-page-fast"]
    assert [d.state for d in fired] == ["firing"]
    assert (fired[0].at_ms - T0) // MINUTE_MS in range(84, 90)  # 20% x k/60 > 14.4%: k > 43
    hour = fired[0].evidence
    assert hour.window_end_ms - hour.window_start_ms == HOUR_MS
    assert hour.short_observed == pytest.approx(0.2)
    assert hour.observed is not None and hour.observed > 0.144


def test_the_budget_remaining_is_reported_each_minute() -> None:
    engine = Evaluation(parse_policy(SLO_POLICY))
    out = _run(engine, range(0, 10 * 60), lambda s: 1 if s % 2 else 0)  # 5% errors
    budgets = [c.value for c in out.state if c.key == "slo:availability|svc|service|svc"]
    assert len(budgets) == 11  # at the first pane, then at each of the ten minute ends
    last = budgets[-1]
    assert last is not None and last["kind"] == "slo"
    # 5% errors against a 1% budget: the budget seen so far is 5x overspent
    assert last["budget_remaining"] == pytest.approx(1 - 0.05 / 0.01, abs=0.05)
    assert last["burn_rates"]["5m"] == pytest.approx(5.0, abs=0.1)


def test_a_restart_restores_the_rollups_and_counts_each_pane_once() -> None:
    policy = parse_policy(SLO_POLICY)
    whole = Evaluation(policy)
    total = _run(whole, range(0, 30 * 60), lambda s: 1)
    engine = Evaluation(policy, EngineConfig())
    before = _run(engine, range(0, 20 * 60), lambda s: 1)
    latest = {c.key: c.value for c in before.state}
    fresh = Evaluation(policy, EngineConfig())
    for value in latest.values():
        if value is not None:
            fresh.restore(value)
    lookback = policy.longest_window_ms + EngineConfig().margin_ms + 2 * MINUTE_MS
    for s in range(20 * 60 - lookback // 1000, 20 * 60):
        fresh.add(_pane(T0 + s * 1000, 10, 1), evaluate=False)
    after = _run(fresh, range(20 * 60, 30 * 60), lambda s: 1)

    def last_budget(out: Output) -> dict[str, Any]:
        found = [c.value for c in out.state if c.key.startswith("slo:")]
        assert found and found[-1] is not None
        return found[-1]

    assert last_budget(after)["requests"] == last_budget(total)["requests"] == 30 * 60 * 10


@pytest.mark.parametrize(
    ("slo", "expected"),
    [
        ("{name: a, objective: 100%}", "field slos.0.objective: expected an objective above"),
        ("{name: a, objective: 90%}",
         "field slos.0.alerts.0.burn_rate: 14.4x the 10% budget is an error rate above 100%"),
        ("{name: a, objective: 99%, per: endpoint, match: {host: web-1}}",
         "field slos.0.match.host: expected match keys among service, endpoint"),
        ("{name: a, objective: 99%, alerts: [{name: x, burn_rate: 2, long_window: 1h, "
         "short_window: 2h, severity: HIGH, response: investigate}]}",
         "field slos.0.alerts.0.short_window: expected a short window shorter than long_window"),
    ],
)  # fmt: skip
def test_an_slo_that_cannot_work_is_refused(slo: str, expected: str) -> None:
    text = SLO_POLICY.replace(
        "  - name: availability\n    objective: 99%\n    per: service\n", f"  - {slo}\n"
    )
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text, "team.yaml")
    assert any(str(p).startswith(f"team.yaml: {expected}") for p in caught.value.problems), [
        str(p) for p in caught.value.problems
    ]
