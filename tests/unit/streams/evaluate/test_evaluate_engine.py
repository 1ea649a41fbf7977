"""The evaluation engine: pane closes drive rules; decisions only on state changes; restarts
from the persisted state neither re-fire nor forget anything."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.decisions import Decision
from schemas.panes import PaneSummary
from streams.evaluate.engine import EngineConfig, Evaluation, Output
from streams.evaluate.synthetic import START_MS, SeriesInput, build_panes
from streams.policy import Policy, load_policy

POLICY = load_policy()
MESSAGE = {"service": "chat-api", "endpoint": "POST /api/message"}

S1: list[dict[str, Any]] = [
    {"scope": MESSAGE, "requests": "70x150", "errors": "0x30 28x40 0x80",
     "version": "2.3.9x30 2.4.0x120"},
    {"scope": {"service": "chat-api", "host": "web-1"}, "cpu": "40x30 95x120"},
    {"scope": {"service": "chat-api"}, "deploys": [{"at": "30s", "version": "2.4.0"}]},
]  # fmt: skip


def _groups(series: list[dict[str, Any]]) -> list[list[PaneSummary]]:
    return build_panes(tuple(SeriesInput.model_validate(s) for s in series))


def _run(engine: Evaluation, groups: list[list[PaneSummary]]) -> Output:
    out = Output()
    for panes in groups:
        for pane in panes:
            engine.add(pane)
        out.extend(engine.advance())
    return out


def _changes(decisions: list[Decision]) -> list[tuple[str, str, str, float]]:
    return [(d.rule, d.previous, d.state, (d.at_ms - START_MS) / 1000) for d in decisions]


def test_only_state_changes_are_decisions() -> None:
    out = _run(Evaluation(POLICY), _groups(S1))
    changes = _changes(out.decisions)
    # 13 failing panes: 364 / 3010 = 12.1%, its 99.9% Wilson lower bound 10.4% > 10%
    assert ("core-error-rate-critical", "inactive", "firing", 43.0) in changes
    assert ("cpu-high", "inactive", "pending", 31.0) in changes
    assert ("cpu-high", "pending", "firing", 61.0) in changes
    fingerprints = [d.fingerprint for d in out.decisions if d.rule == "core-error-rate-critical"]
    assert len(fingerprints) == len({d.decision_id for d in out.decisions if d.rule == (
        "core-error-rate-critical")})  # fmt: skip
    for decision in out.decisions:
        sequence = int(decision.decision_id.rsplit(":", 1)[1])
        assert decision.decision_id == f"{decision.fingerprint}:{sequence}"


def test_a_re_sent_pane_is_evaluated_once() -> None:
    groups = _groups(S1)
    doubled = [panes + panes for panes in groups]
    assert _run(Evaluation(POLICY), doubled).decisions == _run(Evaluation(POLICY), groups).decisions


def test_a_decision_carries_versions_and_the_post_deploy_window() -> None:
    out = _run(Evaluation(POLICY), _groups(S1))
    critical = next(d for d in out.decisions if d.rule == "core-error-rate-critical")
    assert (critical.version, critical.last_good_version, critical.post_deploy) == (
        "2.4.0", "2.3.9", True)  # fmt: skip
    assert critical.scope == MESSAGE and critical.scenario == "S1"
    assert critical.evidence.observed == pytest.approx(364 / 3010)


def _restart(
    engine: Evaluation,
    out: Output,
    history: list[list[PaneSummary]],
    at_ms: int | None = None,
) -> Evaluation:
    """A new engine from the persisted state (latest value per key) and the recent panes,
    rebuilt at ``at_ms`` on the wall clock (default: as each pane closed)."""
    latest: dict[str, Any] = {}
    for change in out.state:
        latest[change.key] = change.value
    fresh = Evaluation(POLICY, engine.config)
    for value in latest.values():
        fresh.restore(value)
    for panes in history[-(POLICY.longest_window_ms // 1000 + 30) :]:
        for pane in panes:
            fresh.add(pane, evaluate=False, arrived_ms=at_ms)
    return fresh


@pytest.mark.parametrize("split", [10, 35, 45, 50, 62, 100, 120])
def test_a_restart_anywhere_decides_exactly_what_an_uninterrupted_run_does(split: int) -> None:
    groups = _groups(S1)
    whole = _run(Evaluation(POLICY), groups).decisions
    engine = Evaluation(POLICY, EngineConfig(checkpoint_every_ms=1))
    before = _run(engine, groups[:split])
    after = _run(_restart(engine, before, groups[:split]), groups[split:])
    assert before.decisions + after.decisions == whole


def test_a_restart_keeps_the_pending_time() -> None:
    groups = _groups(S1)
    engine = Evaluation(POLICY)
    before = _run(engine, groups[:45])  # cpu-high pending since 31 s
    after = _run(_restart(engine, before, groups[:45]), groups[45:])
    fired = [d for d in after.decisions if d.rule == "cpu-high" and d.state == "firing"]
    assert [(d.at_ms - START_MS) / 1000 for d in fired] == [61.0]


def test_a_restart_does_not_re_fire() -> None:
    groups = _groups(S1)
    engine = Evaluation(POLICY)
    before = _run(engine, groups[:50])
    after = _run(_restart(engine, before, groups[:50]), groups[50:])
    core = [d for d in after.decisions if d.rule.startswith("core")]
    again = [d for d in core if d.state == "firing" and d.previous != "firing"]
    assert again == []
    # what it publishes instead is the firing alerts' turn to held, once each
    turns = [(d.rule, d.breaching) for d in core if d.previous == d.state == "firing"]
    assert sorted(turns) == [("core-error-rate-critical", False), ("core-error-rate-high", False)]


def test_a_quiet_scope_is_still_evaluated_while_its_service_reports() -> None:
    series = [
        {"scope": MESSAGE, "requests": "70x70"},  # then silent: no panes at all
        {"scope": {"service": "chat-api", "host": "web-1"}, "cpu": "40x140"},
    ]
    changes = _changes(_run(Evaluation(POLICY), _groups(series)).decisions)
    # the last requests leave the one-minute window at 130 s
    assert ("core-error-rate-critical", "inactive", "no_data", 130.0) in changes


def test_a_pane_arriving_in_a_later_batch_is_evaluated_at_its_own_time() -> None:
    groups = _groups(S1)
    engine = Evaluation(POLICY)
    late: list[PaneSummary] = []
    out = Output()
    for panes in groups[:60]:
        on_time = [p for p in panes if p.scope.dimension != "endpoint"]
        late_now = [p for p in panes if p.scope.dimension == "endpoint"]
        for pane in on_time + late:  # endpoint panes one batch late
            engine.add(pane)
        late = late_now
        out.extend(engine.advance())
    critical = [d for d in out.decisions if d.rule == "core-error-rate-critical"]
    assert [(d.state, d.at_ms - START_MS) for d in critical] == [("firing", 43_000)]


def test_bot_rules_apply_only_to_services_that_have_bots() -> None:
    series = [{"scope": MESSAGE, "requests": "70x60"}]
    decisions = _run(Evaluation(POLICY), _groups(series)).decisions
    assert [d for d in decisions if d.rule == "bots-offline"] == []
    with_bots = [
        *series,
        *(
            {"scope": {"service": "chat-api", "bot": f"b{n}"}, "status": "onlinex60"}
            for n in (1, 2)
        ),
    ]
    decisions = _run(Evaluation(POLICY), _groups(with_bots)).decisions
    assert [(d.rule, d.state) for d in decisions if d.rule == "bots-offline"] == [
        ("bots-offline", "no_data")  # two bots known, the rule needs three: reported
    ]


SILENT_AFTER_70S: list[dict[str, Any]] = [
    {"scope": MESSAGE, "requests": "70x70"},  # chat-api crashes at 70 s: no pane at all
    {"scope": {"service": "chat-api", "host": "web-1"}, "cpu": "40x70"},
    {"scope": {"service": "search-api", "endpoint": "POST /api/search"}, "requests": "60x150"},
]


def _of(decisions: list[Decision], service: str) -> list[tuple[str, str, str, float]]:
    return _changes([d for d in decisions if d.service == service])


def test_a_silent_service_is_judged_at_the_pane_ends_of_its_partition() -> None:
    out = _run(Evaluation(POLICY), _groups(SILENT_AFTER_70S))
    chat = _of(out.decisions, "chat-api")
    # 30 s throughput window: below half the learned 70/s once more than 15 s are silent
    assert ("throughput-collapse", "inactive", "firing", 86.0) in chat
    # the last requests leave the one-minute window at 130 s: too few samples from then on
    assert ("core-error-rate-critical", "inactive", "no_data", 130.0) in chat
    assert ("core-error-rate-high", "inactive", "no_data", 130.0) in chat
    assert [c for c in _of(out.decisions, "search-api") if c[3] > 70] == []  # still sending


def test_a_silent_service_waits_idle_after_before_it_is_judged() -> None:
    engine = Evaluation(POLICY, EngineConfig(idle_after_ms=20_000))
    out = _run(engine, _groups(SILENT_AFTER_70S))
    chat = _of(out.decisions, "chat-api")
    # silent since 70 s, judged from 90 s on: the collapse is seen late, never missed
    assert ("throughput-collapse", "inactive", "firing", 90.0) in chat
    assert ("core-error-rate-critical", "inactive", "no_data", 130.0) in chat


def test_without_other_services_a_silent_partition_does_not_move_on_its_own() -> None:
    engine = Evaluation(POLICY)
    out = _run(engine, _groups([{"scope": MESSAGE, "requests": "70x70"}]))
    assert [c for c in _changes(out.decisions) if c[3] > 70] == []  # idle ticks are the caller's
    assert engine.clock_ms == START_MS + 70_000


def _idle(engine: Evaluation, since_ms: int, quiet_s: list[float]) -> Output:
    """Idle ticks ``quiet_s`` seconds after ``since_ms`` on the wall clock."""
    out = Output()
    for quiet in quiet_s:
        out.extend(engine.idle_tick(since_ms + int(quiet * 1000)))
    return out


def test_an_idle_tick_moves_a_quiet_partition_on_by_the_wall_clock_time_since_its_last_pane() -> (
    None
):
    engine = Evaluation(POLICY)
    _run(engine, _groups([{"scope": MESSAGE, "requests": "70x70"}]))  # data from 2023
    last = engine.clock_ms  # the last pane closed (and arrived) at 70 s
    assert not engine.idle_tick(last + 9_999)  # quiet for less than idle_after: nothing yet
    first = engine.idle_tick(last + 10_500)  # whole panes only: 10 s
    assert engine.clock_ms == last + 10_000
    assert first.state[0].key == "clock" and first.state[0].value == {
        "kind": "clock", "clock_ms": last + 10_000}  # fmt: skip
    out = _idle(engine, last, [s / 2 for s in range(22, 122)])  # every half second to 60.5 s
    changes = _changes(out.decisions)
    assert ("throughput-collapse", "inactive", "firing", 86.0) in changes
    assert ("core-error-rate-critical", "inactive", "no_data", 130.0) in changes
    assert engine.clock_ms == last + 60_000  # the time that passed, never "now"


def _lagging(engine: Evaluation, wall_clock: bool) -> list[Decision]:
    """Stage 1 catching up unevenly: search-api's panes run 40 s ahead of chat-api's, one
    pane of each arriving every second (with ``wall_clock``, the engine is told so)."""
    ahead = _groups([{"scope": {"service": "search-api", "endpoint": "POST /api/search"},
                      "requests": "60x150"}])  # fmt: skip
    behind = _groups([{"scope": MESSAGE, "requests": "70x110"}])
    out = Output()
    for second in range(150):
        now = second * 1000 if wall_clock else None
        for pane in ahead[second] + (behind[second - 40] if second >= 40 else []):
            engine.add(pane, arrived_ms=now)
        out.extend(engine.advance(now))
    return out.decisions


def test_a_service_whose_panes_lag_but_keep_arriving_is_not_judged_silent() -> None:
    alarms = [c for c in _of(_lagging(Evaluation(POLICY), True), "chat-api") if c[2] == "firing"]
    assert alarms == []
    # the control: on event time alone, the lagging service would look silent
    judged = _of(_lagging(Evaluation(POLICY), False), "chat-api")
    assert ("throughput-collapse", "firing") in [(c[0], c[2]) for c in judged]


def test_a_restart_resumes_the_idle_clock_and_judges_nothing_twice() -> None:
    groups = _groups(SILENT_AFTER_70S[:2])
    engine = Evaluation(POLICY)
    before = _run(engine, groups)
    before.extend(_idle(engine, engine.clock_ms, [float(s) for s in range(10, 71)]))
    assert ("core-error-rate-critical", "inactive", "no_data", 130.0) in _changes(before.decisions)
    restart = START_MS + 140_000  # the wall clock, like event time so far
    fresh = _restart(engine, before, groups, at_ms=restart)
    assert fresh.clock_ms == engine.clock_ms == restart  # the persisted clock
    # Another service's pane from before that clock arrives late, once chat-api is quiet
    # again: chat-api, judged up to 140 s before the restart, must not be judged again at
    # 100 s (its data seemingly back).
    late = _groups([{"scope": {"service": "search-api"}, "cpu": "_x99 50"}])[0][0]
    fresh.add(late, arrived_ms=restart + 11_000)
    out = fresh.advance(restart + 11_000)
    out.extend(_idle(fresh, restart + 11_000, [10.0, 11.0]))
    assert _of(out.decisions, "chat-api") == []
    assert fresh.clock_ms == restart + 11_000  # 11 s of silence after the late pane


# A 2-minute half-life (instead of 10) scales the decline below to a quick test.
FAST_BASELINE = POLICY.model_copy(
    update={"throughput": POLICY.throughput.model_copy(update={"half_life_ms": 120_000})}
)


def _declining(collapse_at: int | None = None) -> list[dict[str, Any]]:
    """60 req/s for one half-life, then a steady fall to 15 req/s over two (faster than the
    decayed average can follow); optionally a drop to 35% of the rate at a given second."""
    rates = [60.0] * 120 + [60 - 45 * s / 240 for s in range(240)]
    if collapse_at is not None:
        rates[collapse_at:] = [r * 0.35 for r in rates[collapse_at:]]
    return [{"scope": MESSAGE, "requests": " ".join(str(round(r)) for r in rates)}]


def _collapses(policy: Policy, series: list[dict[str, Any]]) -> list[float]:
    decisions = _run(Evaluation(policy), _groups(series)).decisions
    fired = ("throughput-collapse", "inactive", "firing")
    return [c[3] for c in _changes(decisions) if c[:3] == fired]


def test_a_steady_decline_is_expected_and_a_collapse_during_it_is_not() -> None:
    assert _collapses(FAST_BASELINE, _declining()) == []
    # the control: against the decayed average alone the decline looks like a collapse
    throughput = FAST_BASELINE.throughput.model_copy(update={"trend_floor": 1.0})
    average_only = FAST_BASELINE.model_copy(update={"throughput": throughput})
    assert _collapses(average_only, _declining()) != []
    # a drop to 35% of the declining rate (26 → 9 req/s) is still found, within a window
    found = _collapses(FAST_BASELINE, _declining(collapse_at=300))
    assert len(found) == 1 and 300 < found[0] <= 330
