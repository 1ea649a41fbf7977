"""A DR drill's telemetry is kept apart from the service's real traffic in stages 1 and 2: the
drill id is part of the pane scope, the drill's copy of a service has its own windows,
versions and alerts, its decisions say so, and its CRITICAL alerts make a cascade of their own."""

from __future__ import annotations

from typing import Any

from schemas.decisions import Decision, Evidence
from schemas.panes import PaneSummary
from schemas.severity import Severity
from streams.aggregate.partition import PaneRules, PartitionAggregator
from streams.evaluate.correlate import Cascade, correlate
from streams.evaluate.decide import fingerprint
from streams.evaluate.engine import Evaluation, Output
from streams.evaluate.synthetic import SeriesInput, build_panes
from streams.policy import load_policy
from tests.unit.streams.aggregate.telemetry_factory import BASE_MS, records, request

POLICY = load_policy()


def _closed(events: list[dict[str, Any]]) -> list[PaneSummary]:
    aggregator = PartitionAggregator("t", 0, PaneRules())
    aggregator.process(records(events), 0)
    aggregator.close_idle(10**15)
    return [PaneSummary.model_validate_json(p.value) for p in aggregator.take()[0]]


def test_a_drill_event_lands_in_a_pane_of_its_own_scope() -> None:
    panes = _closed([request(BASE_MS), request(BASE_MS + 10, status=503, drill="drill_1")])
    by_drill = {p.scope.drill: p for p in panes}
    assert set(by_drill) == {None, "drill_1"}
    real, drill = by_drill[None], by_drill["drill_1"]
    assert real.requests is not None and real.requests.errors == 0
    assert drill.requests is not None and drill.requests.errors == 1
    assert drill.scope.id == f"{real.scope.id}|drill:drill_1"
    assert drill.pane_id != real.pane_id
    assert real.scope.model_dump(exclude_none=True) == {
        "service": "chat-api", "dimension": "endpoint", "key": "POST /api/message",
    }  # fmt: skip


def _with_drill(panes: list[PaneSummary], drill: str) -> list[PaneSummary]:
    return [
        p.model_copy(
            update={
                "scope": p.scope.model_copy(update={"drill": drill}),
                "pane_id": f"{p.pane_id}|drill:{drill}",
            }
        )
        for p in panes
    ]


def test_a_drills_failure_decides_for_the_drill_only() -> None:
    scope = {"service": "chat-api", "endpoint": "POST /api/message"}
    healthy = [{"scope": scope, "requests": "70x90", "errors": "0x90"}]
    failing = [{"scope": scope, "requests": "70x90", "errors": "0x30 30x60",
                "version": "2.3.9x30 2.4.0x60"},
               {"scope": {"service": "chat-api"}, "deploys": [{"at": "30s", "version": "2.4.0"}]}]  # fmt: skip
    real = build_panes(tuple(SeriesInput.model_validate(s) for s in healthy))
    drill = build_panes(tuple(SeriesInput.model_validate(s) for s in failing))
    engine, out = Evaluation(POLICY), Output()
    for ours, theirs in zip(real, drill, strict=True):
        for pane in [*ours, *_with_drill(theirs, "drill_1")]:
            engine.add(pane)
        out.extend(engine.advance())
    firing = [d for d in out.decisions if d.state == "firing"]
    assert firing and {d.drill for d in firing} == {"drill_1"}
    assert all(d.version == "2.4.0" for d in firing if d.rule == "core-error-rate-critical")
    # The real service's version track never saw the drill's deploy.
    assert engine.services["chat-api"].track.current is None
    assert engine.services["chat-api|drill:drill_1"].track.current == "2.4.0"


def _critical(fingerprint: str, drill: str | None, at_ms: int) -> Decision:
    evidence = Evidence(metric="error_rate", window_start_ms=at_ms - 60_000, window_end_ms=at_ms,
                        observed=0.5, comparison=">", threshold=0.1, samples=100, min_samples=10)  # fmt: skip
    return Decision(
        decision_id=f"{fingerprint}:1", fingerprint=fingerprint, rule=f"r-{fingerprint}",
        scope={"service": fingerprint}, service=fingerprint, state="firing", previous="inactive",
        severity=Severity.CRITICAL, response="rollback", at_ms=at_ms, evidence=evidence,
        drill=drill,
    )  # fmt: skip


def test_a_drills_critical_alerts_never_count_toward_the_real_cascade() -> None:
    policy = POLICY.cascade
    real, drill = Cascade(), Cascade(drill="drill_1")
    made = []
    for n in range(policy.min_critical):
        decision = _critical(f"s{n}", "drill_1", 1_000_000 + n)
        real, none = correlate(real, decision, policy)
        drill, one = correlate(drill, decision, policy)
        assert none is None
        made += [one] if one is not None else []
    assert not real.members and len(drill.members) == policy.min_critical
    assert [(d.state, d.drill) for d in made] == [("firing", "drill_1")]
    # Its own identity: never the real cascade's decision ids (stage 3 dedups on them).
    assert made[0].fingerprint != fingerprint(policy.name, "*")
