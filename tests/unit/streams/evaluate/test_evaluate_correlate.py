"""Plan S4 across services: five CRITICAL alerts triggered within the window."""

from __future__ import annotations

from schemas.decisions import Decision, Evidence
from streams.evaluate.correlate import Cascade, correlate, decode_cascade, encode_cascade
from streams.policy.model import CascadePolicy

POLICY = CascadePolicy(window="2m", min_critical=5)
EVIDENCE = Evidence(
    metric="error_rate", window_start_ms=0, window_end_ms=1, observed=0.4, comparison=">",
    threshold=0.1, samples=100, min_samples=20,
)  # fmt: skip


def _decision(n: int, at_ms: int, state: str = "firing", severity: str = "CRITICAL") -> Decision:
    return Decision(
        decision_id=f"fp{n}:1", fingerprint=f"fp{n}", rule=f"rule-{n}", scope={"service": f"s{n}"},
        service=f"s{n}", state=state, previous="inactive", severity=severity,  # type: ignore[arg-type]
        response="rollback", at_ms=at_ms, evidence=EVIDENCE,
    )  # fmt: skip


def _feed(cascade: Cascade, decisions: list[Decision]) -> tuple[Cascade, list[Decision]]:
    made = []
    for decision in decisions:
        cascade, out = correlate(cascade, decision, POLICY)
        if out is not None:
            made.append(out)
    return cascade, made


def test_five_critical_alerts_within_the_window_fire_s4() -> None:
    cascade, made = _feed(Cascade(), [_decision(n, n * 10_000) for n in range(4)])
    assert made == []
    cascade, made = _feed(cascade, [_decision(4, 40_000)])
    assert [(d.state, d.severity, d.scenario, d.response) for d in made] == [
        ("firing", "CRITICAL", "S4", "emergency_stop")
    ]
    assert made[0].evidence.observed == 5.0
    assert made[0].service == "*" and "s0" in made[0].summary


def test_four_are_not_enough_and_high_alerts_do_not_count() -> None:
    decisions = [_decision(n, n) for n in range(4)] + [_decision(9, 5, severity="HIGH")]
    assert _feed(Cascade(), decisions)[1] == []


def test_criticals_spread_wider_than_the_window_do_not_fire() -> None:
    decisions = [_decision(n, n * 40_000) for n in range(5)]  # 160 s apart in total
    assert _feed(Cascade(), decisions)[1] == []


def test_it_resolves_when_the_alerts_resolve_and_ignores_its_own_decisions() -> None:
    cascade, made = _feed(Cascade(), [_decision(n, n) for n in range(5)])
    cascade, again = _feed(cascade, made)  # its own decision comes back in
    assert again == []
    cascade, resolved = _feed(cascade, [_decision(0, 300_000, state="resolved")])
    assert [d.state for d in resolved] == ["resolved"]
    assert resolved[0].decision_id.endswith(":2")


def test_state_round_trips() -> None:
    cascade, _ = _feed(Cascade(), [_decision(n, n) for n in range(5)])
    assert decode_cascade(encode_cascade(POLICY.name, cascade)) == cascade
