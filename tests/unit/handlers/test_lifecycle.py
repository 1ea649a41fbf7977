"""Human steps, the HIGH investigation window and the rollback's end — pure, with reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handlers.config import ResponseConfig
from handlers.incidents.incident import AlertEntry, Incident
from handlers.incidents.lifecycle import (
    InvestigationReason,
    LifecycleError,
    acknowledge,
    human_decision,
    investigation_expired,
    resolve,
    rollback_finished,
)
from schemas.severity import Severity

CFG = ResponseConfig()
T0 = 1_800_000_000.0


def incident(state: str = "firing", **kw: object) -> Incident:
    alert = AlertEntry("fp", "p95_latency", state, Severity.HIGH, T0)
    base = Incident(
        "inc_1",
        "chat-api",
        Severity.HIGH,
        "open",
        "slow",
        T0,
        T0,
        alerts={"fp": alert},
        steps=frozenset({"page:HIGH", "investigation"}),
    )
    return replace(base, **kw)


@pytest.mark.parametrize(
    ("inc", "reason", "rolls_back"),
    [
        (incident(), InvestigationReason.EXPIRED, True),
        (incident("no_data"), InvestigationReason.EXPIRED, True),
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
    ],
)
def test_investigation_window(inc: Incident, reason: InvestigationReason, rolls_back: bool) -> None:
    effects, why = investigation_expired(inc, T0 + 120)
    assert why is reason
    assert (effects.rollback is not None) is rolls_back
    assert effects.timeline[0].reason == reason.value


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


def test_rollback_success_mitigates_and_resolves_when_nothing_fires() -> None:
    firing = rollback_finished(incident(rollback_status="running"), True, "ok", T0 + 200, CFG)
    assert firing.incident.status == "mitigated" and firing.incident.rollback_status == "succeeded"
    quiet = rollback_finished(
        incident("resolved", rollback_status="running"), True, "ok", T0 + 200, CFG
    )
    assert quiet.incident.status == "resolved"


def test_rollback_failure_escalates_to_the_final_contact() -> None:
    effects = rollback_finished(
        incident(rollback_status="running"), False, "verify: not healthy", T0, CFG
    )
    assert effects.incident.status == "open" and effects.incident.rollback_status == "failed"
    page = effects.actions[0]
    assert page.kind == "page" and page.payload["contact"] == "Dave"
    assert "escalated" in [e.type for e in effects.events]
