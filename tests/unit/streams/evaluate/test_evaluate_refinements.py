"""Refinements: a later revision of a pane replaces it (never counts twice), the windows that
held it are judged again, and a verdict it reverses resolves through the rule's hysteresis."""

from __future__ import annotations

from schemas.decisions import Decision
from schemas.panes import PaneSummary, Scope
from streams.evaluate.buffer import PaneBuffer
from streams.evaluate.engine import Evaluation, Output
from streams.evaluate.synthetic import START_MS, SeriesInput, build_panes
from streams.policy import load_policy

POLICY = load_policy()
MESSAGE = {"service": "chat-api", "endpoint": "POST /api/message"}
CRITICAL = "core-error-rate-critical"


def _panes(requests: str, errors: str) -> list[list[PaneSummary]]:
    return build_panes((SeriesInput.model_validate(
        {"scope": MESSAGE, "requests": requests, "errors": errors}
    ),))  # fmt: skip


def _revision(pane: PaneSummary, revision: int, count: int, errors: int) -> PaneSummary:
    """``pane`` as a refinement would carry it: more requests counted, a higher revision."""
    assert pane.requests is not None
    requests = pane.requests.model_copy(update={"count": count, "errors": errors})
    return pane.model_copy(update={"revision": revision, "requests": requests})


def _feed(engine: Evaluation, groups: list[list[PaneSummary]]) -> Output:
    out = Output()
    for panes in groups:
        for pane in panes:
            engine.add(pane)
        out.extend(engine.advance())
    return out


def _at(decisions: list[Decision], rule: str) -> list[tuple[str, float]]:
    return [(d.state, (d.at_ms - START_MS) / 1000) for d in decisions if d.rule == rule]


def test_a_later_revision_replaces_the_pane_and_an_older_one_is_ignored() -> None:
    [[pane]] = _panes("10x1", "1x1")
    buffer = PaneBuffer(Scope(service="chat-api", dimension="endpoint", key=MESSAGE["endpoint"]))
    assert buffer.add(_revision(pane, 5, 10, 1))
    assert buffer.refine(_revision(pane, 5, 10, 1)) is None  # re-sent: nothing changes
    held = buffer.refine(_revision(pane, 9, 30, 2))
    assert held is not None and held.revision == 5
    assert buffer.refine(_revision(pane, 7, 20, 1)) is None  # older than the one held
    window = buffer.window(pane.end_ms, 60_000)
    assert (window.requests, window.errors) == (30, 2)  # the refined counts, once


def test_a_refinement_that_clears_the_breach_resolves_through_keep_firing_for() -> None:
    """59 s of 10 requests, then a pane whose on-time revision holds 200 errors of 200
    (25% over the minute: CRITICAL fires); its refinement adds 2000 late successes (7%)."""
    groups = _panes("10x59 200x1 10x150", "0x59 200x1 0x150")
    breaching = groups[59][0]
    engine = Evaluation(POLICY)
    fired = _feed(engine, groups[:60])
    assert _at(fired.decisions, CRITICAL) == [("firing", 60.0)]

    engine.add(_revision(breaching, 1, 2200, 200))
    [turn] = [d for d in engine.advance().decisions if d.rule == CRITICAL]
    assert (turn.state, turn.at_ms) == ("firing", breaching.end_ms)  # judged again, same time
    assert "held firing by keep_firing_for" in turn.summary  # clear now: the alert's turn
    # Reversed: the endpoint's critical rule and the service-wide one (25% → 7.2%).
    assert engine.take_counts() == {"refinements": 1, "reversals": 2}

    later = _feed(engine, groups[60:])
    assert _at(later.decisions, CRITICAL) == [("resolved", 120.0)]  # 1 m after the clear


def test_without_the_refinement_it_stays_firing_until_the_pane_leaves_the_window() -> None:
    """The control for the test above: the same panes, no refinement."""
    groups = _panes("10x59 200x1 10x150", "0x59 200x1 0x150")
    out = _feed(Evaluation(POLICY), groups)
    assert _at(out.decisions, CRITICAL) == [
        ("firing", 60.0),
        ("firing", 120.0),
        ("resolved", 180.0),
    ]


def test_a_refinement_judged_by_a_newer_pane_end_is_not_judged_twice() -> None:
    groups = _panes("10x59 200x1 10x5", "0x59 200x1 0x5")
    engine = Evaluation(POLICY)
    _feed(engine, groups[:60])
    engine.add(_revision(groups[59][0], 1, 2200, 200))
    engine.add(groups[60][0])  # the next pane end arrives in the same batch
    engine.advance()
    assert engine.take_counts() == {"refinements": 1, "reversals": 0}


def test_a_refinement_that_confirms_the_verdict_is_no_reversal() -> None:
    groups = _panes("10x59 200x1", "0x59 200x1")
    engine = Evaluation(POLICY)
    _feed(engine, groups)
    engine.add(_revision(groups[59][0], 1, 210, 205))
    assert engine.advance().decisions == []
    assert engine.take_counts() == {"refinements": 1, "reversals": 0}


def test_a_restart_rebuilds_from_the_latest_revision_and_replays_count_once() -> None:
    """Rebuilding (no evaluation) keeps the highest revision whatever the order read; a
    revision read again after a restart neither replaces nor counts."""
    groups = _panes("10x59 200x1", "0x59 200x1")
    pane = groups[59][0]
    engine = Evaluation(POLICY)
    for panes in groups[:59]:
        for one in panes:
            engine.add(one, evaluate=False)
    engine.add(_revision(pane, 7, 2200, 200), evaluate=False)
    engine.add(_revision(pane, 3, 200, 200), evaluate=False)  # an older one, read after
    service = engine.services["chat-api"]
    window = service.buffer(pane.scope).window(pane.end_ms, 60_000)
    assert (window.requests, window.errors) == (59 * 10 + 2200, 200)
    engine.add(_revision(pane, 7, 2200, 200))  # the same revision again, live
    assert engine.advance().decisions == []
    assert engine.take_counts() == {"refinements": 0, "reversals": 0}
