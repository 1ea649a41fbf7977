"""The plan's response per severity and scenario, from one decision (pure, no I/O)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from handlers.config import ResponseConfig
from handlers.escalation import Step, escalation_due
from handlers.incidents.effects import Effects
from handlers.incidents.incident import Incident
from handlers.incidents.response import DecisionContext, on_decision
from schemas.severity import Severity
from tests.support.decisions import decision

CFG = ResponseConfig(investigation_s=120)
NOW = 1_800_000_000.0


def _ctx(now: float = NOW, new_id: str = "inc_1") -> DecisionContext:
    return DecisionContext(now=now, new_incident_id=new_id)


def _kinds(effects: Effects) -> list[str]:
    return [
        f"{a.kind}:{a.payload.get('event') or a.payload.get('action') or a.payload.get('topic') or a.payload.get('status')}"
        for a in effects.actions
    ]


def _open(severity: Severity, **kw: object) -> Effects:
    effects = on_decision(None, decision(severity=severity, at=NOW, **kw), _ctx(), CFG)
    assert effects is not None
    return effects


def test_critical_pages_opens_the_breaker_and_rolls_back_now() -> None:
    effects = _open(Severity.CRITICAL)
    assert effects.incident.scenario == "S1" and effects.incident.status == "open"
    assert _kinds(effects) == [
        "page:trigger",
        "chat:opened:CRITICAL",
        "status_page:investigating",
        "breaker:open",
    ]
    assert effects.rollback is not None and "CRITICAL" in effects.rollback.reason
    assert effects.events[0].type == "opened"
    assert effects.incident.bad_version == "2.4.0" and effects.incident.last_good_version == "2.3.9"
    assert {t.kind for t in effects.timers} == {"escalation"}


def test_high_pages_and_starts_the_investigation_window_without_rollback() -> None:
    effects = _open(Severity.HIGH, rule="p95_latency", metric="p95_ms")
    assert effects.incident.scenario == "S3"
    assert _kinds(effects)[0] == "page:trigger"
    assert effects.rollback is None
    investigation = [t for t in effects.timers if t.kind == "investigation"]
    assert [t.due_at for t in investigation] == [NOW + 120]


def test_medium_notifies_and_waits_for_a_human() -> None:
    effects = _open(Severity.MEDIUM, rule="cpu_high", metric="cpu")
    assert _kinds(effects) == ["chat:decision_needed"]
    assert "/decision" in effects.actions[0].payload["text"]
    assert effects.rollback is None and not [t for t in effects.timers if t.kind == "investigation"]


def test_low_is_recorded_only() -> None:
    effects = _open(Severity.LOW, rule="warnings", metric="log_errors")
    assert effects.actions == () and effects.rollback is None
    assert any("recorded" in t.message for t in effects.timeline)


def test_s2_stops_bots_isolates_and_restores() -> None:
    effects = _open(Severity.CRITICAL, scenario="S2", rule="integrity", metric="integrity")
    assert effects.incident.involves_data
    assert "bot_restart:stop" in _kinds(effects)
    targets = [a.payload["target"] for a in effects.actions if a.kind == "breaker"]
    assert targets == ["chat-api/data"]
    assert effects.rollback is not None and effects.rollback.involves_data


def test_s4_opens_every_breaker_and_resumes_at_reduced_capacity() -> None:
    effects = _open(Severity.CRITICAL, scenario="S4")
    targets = [a.payload["target"] for a in effects.actions if a.kind == "breaker"]
    assert targets == ["*"]
    assert effects.rollback is not None and effects.rollback.emergency
    assert effects.rollback.capacity == CFG.reduced_capacity


def test_the_correlators_cascade_stops_everything_but_leaves_rollbacks_to_each_service() -> None:
    effects = on_decision(
        None,
        decision("*", Severity.CRITICAL, scenario="S4", rule="cascading-failures"),
        _ctx(),
        CFG,
    )
    assert effects is not None
    targets = [a.payload["target"] for a in effects.actions if a.kind == "breaker"]
    assert targets == ["*"] and effects.rollback is None
    assert any("each failing service" in t.message for t in effects.timeline)


def test_a_second_decision_joins_with_the_worst_severity_and_no_repeated_steps() -> None:
    first = _open(Severity.HIGH, rule="p95_latency", metric="p95_ms")
    again = on_decision(
        first.incident,
        decision(severity=Severity.HIGH, rule="p95_latency", seq=2, at=NOW + 5),
        _ctx(NOW + 5),
        CFG,
    )
    assert again is not None and again.actions == () and again.incident.id == "inc_1"
    worse = on_decision(
        first.incident, decision(severity=Severity.CRITICAL, at=NOW + 10), _ctx(NOW + 10), CFG
    )
    assert worse is not None
    assert worse.incident.severity is Severity.CRITICAL
    assert "page:trigger" in _kinds(worse) and worse.rollback is not None
    assert "severity_changed" in [e.type for e in worse.events]


def test_a_decision_long_after_opens_a_new_incident() -> None:
    first = _open(Severity.HIGH)
    late = on_decision(
        first.incident, decision(rule="other", at=NOW + 301), _ctx(new_id="inc_2"), CFG
    )
    assert late is not None and late.incident.id == "inc_2"


def test_resolution_of_every_alert_resolves_the_incident() -> None:
    first = _open(Severity.HIGH, rule="p95_latency", metric="p95_ms")
    d = decision(severity=Severity.HIGH, rule="p95_latency", state="resolved", seq=2, at=NOW + 30)
    done = on_decision(first.incident, d, _ctx(NOW + 30), CFG)
    assert done is not None and done.incident.status == "resolved"
    assert _kinds(done)[:2] == ["page:resolve", "chat:resolved"]
    assert "resolved" in [e.type for e in done.events]


def test_resolution_waits_while_a_rollback_runs() -> None:
    first = _open(Severity.CRITICAL)
    rolling = Incident(**{**first.incident.__dict__, "rollback_status": "running"})
    d = decision(state="resolved", seq=2, at=NOW + 30)
    effects = on_decision(rolling, d, _ctx(NOW + 30), CFG)
    assert effects is not None and effects.incident.status == "open"


def test_pending_without_an_incident_and_unknown_resolutions_are_only_logged() -> None:
    assert on_decision(None, decision(state="pending"), _ctx(), CFG) is None
    first = _open(Severity.HIGH)
    stranger = decision(state="resolved", rule="unrelated", seq=9)
    assert on_decision(first.incident, stranger, _ctx(), CFG) is None


def test_bot_crash_restarts_that_bot() -> None:
    effects = _open(
        Severity.MEDIUM,
        rule="bot_crash",
        metric="bot_status",
        response="restart_bot",
        scope={"bot": "bot-7"},
    )
    restart = [a for a in effects.actions if a.kind == "bot_restart"]
    assert [(a.payload["action"], a.payload["bot"]) for a in restart] == [("restart", "bot-7")]


def test_idempotency_keys_name_the_incident_and_the_plan_step() -> None:
    effects = _open(Severity.CRITICAL)
    keys = [a.key for a in effects.actions]
    assert all(k.startswith("inc_1:") for k in keys) and len(set(keys)) == len(keys)
    assert "inc_1:breaker:open:chat-api" in keys


def test_the_incident_keeps_the_earliest_window_its_alerts_fired_on() -> None:
    """The first evidence (an S2 restore must predate it) survives later decisions of the same
    alert, whose windows start later; another alert's earlier window moves it back."""
    first = _open(Severity.CRITICAL, scenario="S2", rule="integrity", metric="integrity")
    assert first.incident.first_evidence_at == NOW - 60
    later = decision(scenario="S2", rule="integrity", metric="integrity", seq=3, at=NOW + 90)
    again = on_decision(first.incident, later, _ctx(NOW + 90), CFG)
    assert again is not None and again.incident.first_evidence_at == NOW - 60
    older = decision(rule="messages_missing", at=NOW - 30)
    other = on_decision(again.incident, older, _ctx(NOW + 90), CFG)
    assert other is not None and other.incident.first_evidence_at == NOW - 90


@pytest.mark.parametrize(
    ("posted_from", "posts", "stakeholder_update_at_5_min"),
    [(Severity.HIGH, [], False), (Severity.MEDIUM, ["status_page:investigating"], True)],
    ids=["default-internal-only", "medium-is-customer-facing"],
)
def test_medium_goes_on_the_status_page_only_when_configured_customer_facing(
    posted_from: Severity, posts: list[str], stakeholder_update_at_5_min: bool
) -> None:
    """The plan's status page is "if customer-facing": by default only HIGH and CRITICAL are,
    so a MEDIUM incident's updates stay in chat (every 2 min) with no stakeholder cadence;
    ``status_page_min_severity=MEDIUM`` posts it and updates the page every 5 min."""
    cfg = ResponseConfig(status_page_min_severity=posted_from)
    effects = on_decision(None, decision(severity=Severity.MEDIUM, at=NOW), _ctx(), cfg)
    assert effects is not None
    assert [k for k in _kinds(effects) if k.startswith("status_page")] == posts
    due = {d.step for d in escalation_due(effects.incident, NOW + 300, cfg)}
    assert Step.CHAT_UPDATE in due
    assert (Step.STATUS_UPDATE in due) is stakeholder_update_at_5_min


def test_low_incidents_are_never_posted() -> None:
    with pytest.raises(ValidationError, match="LOW incidents are only recorded"):
        ResponseConfig(status_page_min_severity=Severity.LOW)


def test_the_high_response_says_the_configured_investigation_window() -> None:
    cfg = ResponseConfig(investigation_s=45)
    effects = on_decision(None, decision(severity=Severity.HIGH, at=NOW), _ctx(), cfg)
    assert effects is not None
    texts = [a.payload.get("text", "") for a in effects.actions if a.kind == "chat"]
    assert "investigate 45 s, roll back if it still breaches then" in texts[0]
    assert "2 min" not in " ".join(texts + [t.message for t in effects.timeline])
    assert "investigation window of 45 s started" in [t.message for t in effects.timeline]


@pytest.mark.parametrize(
    ("version", "last_good", "previous", "target", "basis"),
    [
        ("2.4.0", "2.3.9", None, "2.3.9", "known_good"),
        ("2.4.0", None, "2.3.8", "2.3.8", "previous_deploy"),
        ("2.4.0", "2.4.0", "2.3.8", None, "known_good_in_effect"),  # the proven one runs
        ("2.4.0", None, None, None, None),
        (None, None, "2.3.8", None, None),  # what runs is unknown: nothing is "before" it
    ],
)
def test_the_rollback_target_is_settled_with_its_basis(
    version: str | None, last_good: str | None, previous: str | None, target: str | None,
    basis: str | None,
) -> None:  # fmt: skip
    d = decision(severity=Severity.HIGH, version=version, last_good_version=last_good)
    effects = on_decision(None, d, DecisionContext(NOW, "inc_1", previous_deploy=previous), CFG)
    assert effects is not None
    assert (effects.incident.last_good_version, effects.incident.target_basis) == (target, basis)


def test_critical_without_a_target_opens_its_detection_breaker_but_no_rollback() -> None:
    """The plan's S1 breaker at detection stands; no rollback is requested (it would only keep
    the breaker shut) and the lead engineer is paged at once with the reason."""
    d = decision(severity=Severity.CRITICAL, at=NOW, last_good_version=None)
    effects = on_decision(None, d, _ctx(), CFG)
    assert effects is not None and effects.rollback is None
    assert _kinds(effects) == [
        "page:trigger",
        "chat:opened:CRITICAL",
        "status_page:investigating",
        "breaker:open",
        "page:trigger",
        "chat:no_rollback_target",
    ]
    assert effects.actions[4].payload["contact"] == "lead engineer"
    assert "no version to roll back to" in effects.timeline[-1].reason
    assert not effects.incident.done("rollback")


def test_a_firing_alerts_turn_to_held_updates_the_alert_without_responding_again() -> None:
    first = _open(Severity.HIGH, rule="p95_latency", metric="p95_ms")
    turn = decision(
        severity=Severity.HIGH, rule="p95_latency", seq=3, at=NOW + 40, previous="firing",
        breaching=False,
    )  # fmt: skip
    effects = on_decision(first.incident, turn, _ctx(NOW + 40), CFG)
    assert effects is not None and effects.actions == () and effects.rollback is None
    (alert,) = effects.incident.alerts.values()
    assert alert.state == "firing" and alert.breaching is False and not alert.breaches
    assert [t.message for t in effects.timeline] == [
        "p95_latency held firing by keep_firing_for on its latest window"
    ]
    assert alert.evidence["observed"] == 0.25 and alert.evidence["decided_at_ms"] == turn.at_ms


def test_a_breach_after_a_no_rollback_verdict_rolls_back_through_the_decision() -> None:
    first = _open(Severity.HIGH, rule="p95_latency", metric="p95_ms")
    turn = dict(severity=Severity.HIGH, rule="p95_latency", previous="firing")
    held = on_decision(
        first.incident, decision(**turn, seq=3, at=NOW + 40, breaching=False), _ctx(), CFG
    )
    assert held is not None
    ended = held.incident.with_steps("investigation:deferred")  # the verdict: nothing breached
    again = on_decision(ended, decision(**turn, seq=4, at=NOW + 130, breaching=True), _ctx(), CFG)
    assert again is not None and again.rollback is not None
    assert "breaches again after an investigation" in again.rollback.reason
