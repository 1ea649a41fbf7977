"""Human steps, the HIGH investigation window and the rollback's end — pure, with reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handlers.config import ResponseConfig
from handlers.escalation import no_rollback_target
from handlers.incidents.incident import AlertEntry, Incident
from handlers.incidents.lifecycle import (
    InvestigationReason,
    LifecycleError,
    acknowledge,
    breach_after_investigation,
    human_decision,
    investigation_expired,
    resolve,
    rollback_finished,
)
from handlers.incidents.target import IN_EFFECT
from handlers.readiness.verdict import GATE_RULE
from schemas.severity import Severity

CFG = ResponseConfig()
T0 = 1_800_000_000.0


def incident(state: str = "firing", breaching: bool | None = None, **kw: object) -> Incident:
    alert = AlertEntry("fp", "p95_latency", state, Severity.HIGH, T0, breaching=breaching)
    base = Incident(
        "inc_1",
        "chat-api",
        Severity.HIGH,
        "open",
        "slow",
        T0,
        T0,
        bad_version="2.4.0",
        last_good_version="2.3.9",
        target_basis="known_good",
        alerts={"fp": alert},
        steps=frozenset({"page:HIGH", "investigation"}),
    )
    return replace(base, **kw)


HELD = incident(breaching=False)  # firing, clear on its latest window: keep_firing_for holds it
NO_TARGET = incident(last_good_version=None, target_basis=None)


@pytest.mark.parametrize(
    ("inc", "reason", "rolls_back"),
    [
        (incident(), InvestigationReason.EXPIRED, True),
        (incident(breaching=True), InvestigationReason.EXPIRED, True),
        (incident("pending", breaching=True), InvestigationReason.EXPIRED, True),
        (HELD, InvestigationReason.CLEARING, False),
        (incident("no_data"), InvestigationReason.NO_DATA, False),
        (incident("resolved"), InvestigationReason.RECOVERED, False),
        (
            incident(acknowledged_at=T0 + 5, ack_note="on it: looking at the db"),
            InvestigationReason.HELD,
            False,
        ),
        (incident(acknowledged_at=T0 + 5, ack_note=" "), InvestigationReason.EXPIRED, True),
        (incident(status="resolved"), InvestigationReason.NOT_OPEN, False),  # by a human
        (incident("resolved", status="resolved"), InvestigationReason.RECOVERED, False),
        (incident(status="mitigated"), InvestigationReason.NOT_OPEN, False),
        (incident(steps=frozenset({"rollback"})), InvestigationReason.ALREADY, False),
        (NO_TARGET, InvestigationReason.NO_TARGET, False),
        # an SLO ticket (LOW) that joined the incident still burns; the HIGH alert recovered
        (
            replace(
                incident("resolved"),
                alerts={
                    "fp": AlertEntry("fp", "p95_latency", "resolved", Severity.HIGH, T0),
                    "lo": AlertEntry(
                        "lo", "slo-ticket", "firing", Severity.LOW, T0, breaching=True
                    ),
                },
            ),
            InvestigationReason.RECOVERED,
            False,
        ),
        (replace(NO_TARGET, involves_data=True), InvestigationReason.EXPIRED, True),  # restore
    ],
)
def test_investigation_window(inc: Incident, reason: InvestigationReason, rolls_back: bool) -> None:
    effects, why = investigation_expired(inc, T0 + 120, CFG)
    assert why is reason
    assert (effects.rollback is not None) is rolls_back
    assert effects.timeline[0].reason == reason.value
    assert effects.timeline[0].message == "investigation window of 2 min ended"
    alert = effects.timeline[0].evidence["alerts"][0]  # the worst first
    assert alert["rule"] == "p95_latency" and alert["counts"] is inc.alerts["fp"].breaches


def test_the_verdict_texts_use_the_configured_window() -> None:
    effects, _ = investigation_expired(incident(), T0 + 90, ResponseConfig(investigation_s=90))
    assert effects.timeline[0].message == "investigation window of 90 s ended"


def test_a_held_alert_that_breaches_again_after_the_window_rolls_back_then() -> None:
    ended, _ = investigation_expired(HELD, T0 + 120, CFG)
    assert ended.incident.done("investigation:deferred") and ended.rollback is None
    assert breach_after_investigation(ended.incident, T0 + 130, CFG) is None  # still held
    again = replace(ended.incident, alerts={"fp": replace(HELD.alerts["fp"], breaching=True)})
    effects = breach_after_investigation(again, T0 + 130, CFG)
    assert effects is not None and effects.rollback is not None
    assert effects.rollback.reason == InvestigationReason.BREACHED_AFTER.value
    assert breach_after_investigation(effects.incident, T0 + 131, CFG) is None  # once
    taken = replace(again, acknowledged_at=T0 + 125, ack_note="mine")
    assert breach_after_investigation(taken, T0 + 130, CFG) is None


def test_no_target_opens_nothing_and_pages_the_lead_engineer_at_once() -> None:
    effects, why = investigation_expired(NO_TARGET, T0 + 120, CFG)
    assert why is InvestigationReason.NO_TARGET and effects.rollback is None
    assert [(a.kind, a.payload.get("contact")) for a in effects.actions] == [
        ("page", "lead engineer"),
        ("chat", None),
    ]
    assert not [a for a in effects.actions if a.kind in ("breaker", "rollback")]
    why_text = effects.timeline[-1].reason
    assert why_text == (
        "no version to roll back to: chat-api has no last known good version other than "
        "2.4.0, and no other version deployed successfully before it"
    )
    assert why_text in effects.actions[0].payload["summary"]
    assert effects.incident.done("escalation:lead_engineer")  # not paged again at 5 min
    again = no_rollback_target(effects.incident, T0 + 130, CFG)
    assert again.actions == ()


@pytest.mark.parametrize(
    ("basis", "bad", "expected"),
    [
        (IN_EFFECT, "2.4.0", "no version to roll back to: 2.4.0, the version chat-api runs, is "
         "its last known good version (nothing older is proven better)"),
        (None, None, "no version to roll back to: the version chat-api runs is unknown, so no "
         "earlier one can be chosen"),
    ],
)  # fmt: skip
def test_no_target_says_why(basis: str | None, bad: str | None, expected: str) -> None:
    inc = replace(NO_TARGET, target_basis=basis, bad_version=bad)
    effects, _ = investigation_expired(inc, T0 + 120, CFG)
    assert effects.timeline[-1].reason == expected


def test_acknowledge_sends_the_pager_acknowledge_once() -> None:
    effects = acknowledge(incident(), "ana", "checking the database", T0 + 30)
    assert effects.incident.status == "acknowledged" and effects.incident.held
    assert [(a.kind, a.payload["event"], a.closing) for a in effects.actions] == [
        ("page", "acknowledge", True)
    ]
    again = acknowledge(effects.incident, "bob", None, T0 + 40)
    assert again.actions == () and again.incident.ack_note == "checking the database"


def test_resolve_closes_the_page_and_reminds_of_the_review() -> None:
    effects = resolve(incident(), T0 + 60, CFG, "fixed", by="ana")
    assert effects.incident.status == "resolved" and effects.incident.resolved_at == T0 + 60
    assert [a.kind for a in effects.actions] == ["page", "chat"]
    assert "Post-incident review due by" in effects.actions[1].payload["text"]
    # its alert still fires: it is re-armed as well (tests/unit/handlers/test_rearm.py)
    assert [(t.kind, t.due_at) for t in effects.timers] == [
        ("escalation", T0 + 60 + CFG.review_reminder_after_s),
        ("rearm", T0 + 60 + CFG.rearm_grace_s),
    ]
    with pytest.raises(LifecycleError):
        resolve(effects.incident, T0 + 61, CFG, "again")


def test_human_decision_rollback_or_dismiss() -> None:
    medium = incident(severity=Severity.MEDIUM, steps=frozenset({"notify"}))
    chosen = human_decision(medium, "rollback", "ana", "bad deploy", T0 + 60, CFG)
    assert chosen.rollback is not None and chosen.incident.human_decision == "rollback"
    with pytest.raises(LifecycleError, match="already has a rollback"):
        human_decision(chosen.incident, "rollback", "bob", None, T0 + 61, CFG)
    dismissed = human_decision(medium, "dismiss", "ana", "noise", T0 + 60, CFG)
    assert dismissed.incident.status == "resolved" and dismissed.rollback is None


def test_a_human_rollback_without_a_target_is_refused_with_the_reason() -> None:
    medium = replace(NO_TARGET, severity=Severity.MEDIUM, steps=frozenset({"notify"}))
    with pytest.raises(LifecycleError, match=r"no version to roll back to: .* roll back by hand"):
        human_decision(medium, "rollback", "ana", "bad deploy", T0 + 60, CFG)


def test_rollback_success_mitigates_and_resolves_when_nothing_fires() -> None:
    firing = rollback_finished(incident(rollback_status="running"), True, "ok", T0 + 200, CFG)
    assert firing.incident.status == "mitigated" and firing.incident.rollback_status == "succeeded"
    quiet = rollback_finished(
        incident("resolved", rollback_status="running"), True, "ok", T0 + 200, CFG
    )
    assert quiet.incident.status == "resolved"


def test_a_verified_rollback_ends_the_alert_of_a_deploy_that_skipped_the_gate() -> None:
    # Nothing in stage 2 resolves a gate alert: the rollback took its version out of service.
    gate = AlertEntry("gate", GATE_RULE, "firing", Severity.MEDIUM, T0)
    inc = incident("resolved", rollback_status="running")
    inc = replace(inc, alerts={**inc.alerts, "gate": gate})
    done = rollback_finished(inc, True, "ok", T0 + 200, CFG)
    assert done.incident.alerts["gate"].state == "resolved"
    assert done.incident.status == "resolved"
    notes = [(e.kind, e.message, e.reason) for e in done.timeline]
    assert (
        "decision",
        f"{GATE_RULE} resolved",
        "the version deployed while not ready was rolled back",
    ) in notes
    # A breach still firing keeps the incident mitigated, not resolved; the gate alert ends.
    firing = replace(inc, alerts={**incident().alerts, "gate": gate})
    held = rollback_finished(firing, True, "ok", T0 + 200, CFG)
    assert held.incident.status == "mitigated" and held.incident.alerts["gate"].state == "resolved"
    # A failed rollback leaves it firing.
    failed = rollback_finished(inc, False, "verify: not healthy", T0 + 200, CFG)
    assert failed.incident.alerts["gate"].state == "firing"


def test_rollback_failure_escalates_to_the_final_contact() -> None:
    effects = rollback_finished(
        incident(rollback_status="running"), False, "verify: not healthy", T0, CFG
    )
    assert effects.incident.status == "open" and effects.incident.rollback_status == "failed"
    page = effects.actions[0]
    assert page.kind == "page" and page.payload["contact"] == "Dave"
    assert "escalated" in [e.type for e in effects.events]
