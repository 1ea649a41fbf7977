"""Resolved by hand while alerts fire: re-armed alerts, their next breach, the grace period."""

from __future__ import annotations

from dataclasses import replace

from handlers.config import ResponseConfig
from handlers.incidents.effects import Effects
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import human_decision, resolve
from handlers.incidents.rearm import (
    RearmReason,
    is_turn,
    rearmed_alerts,
    redelivery,
    redelivery_id,
    turn,
)
from handlers.incidents.response import DecisionContext, on_decision
from schemas.decisions import Decision
from schemas.severity import Severity
from tests.support.decisions import decision

CFG = ResponseConfig(rearm_grace_s=120)
NOW = 1_800_000_000.0


def _critical(now: float = NOW) -> Incident:
    effects = on_decision(None, decision(at=now), DecisionContext(now, "inc_1"), CFG)
    assert effects is not None
    return effects.incident


def _turn(breaching: bool, at: float, seq: int = 2) -> Decision:
    return decision(at=at, previous="firing", breaching=breaching, seq=seq)


def test_resolving_by_hand_while_an_alert_fires_re_arms_it_with_a_grace_timer() -> None:
    effects = resolve(_critical(), NOW + 30, CFG, "resolved by ana", by="ana")
    assert effects.incident.status == "resolved" and effects.incident.done("rearmed")
    [timer] = [t for t in effects.timers if t.kind == "rearm"]
    assert timer.due_at == NOW + 30 + 120
    [note] = [t for t in effects.timeline if t.message.startswith("re-armed")]
    assert note.message == "re-armed: error_rate_critical still firing"
    assert "2 min" in note.reason and note.evidence["rearmed"][0]["state"] == "firing"


def test_a_resolution_with_nothing_firing_re_arms_nothing() -> None:
    inc = _critical()
    calm = replace(inc, alerts={fp: replace(a, state="resolved") for fp, a in inc.alerts.items()})
    effects = resolve(calm, NOW + 30, CFG, "all alerts resolved")
    assert not rearmed_alerts(calm) and not effects.incident.done("rearmed")
    assert all(t.kind != "rearm" for t in effects.timers)


def test_dismissing_a_firing_medium_incident_re_arms_it_too() -> None:
    medium = on_decision(
        None, decision(severity=Severity.MEDIUM, at=NOW), DecisionContext(NOW, "inc_m"), CFG
    )
    assert medium is not None
    effects = human_decision(medium.incident, "dismiss", "ana", "known", NOW + 5, CFG)
    assert effects.incident.status == "resolved"
    assert [t.due_at for t in effects.timers if t.kind == "rearm"] == [NOW + 125]


def test_a_turn_belongs_to_the_open_incident_that_holds_the_alert() -> None:
    inc = _critical()
    again = _turn(True, NOW + 40)
    assert is_turn(again) and turn(inc, again) == "update"
    effects = on_decision(inc, again, DecisionContext(NOW + 40, "inc_2"), CFG)
    assert effects is not None and effects.incident.id == "inc_1"
    assert effects.actions == () and effects.rollback is None  # no second response
    assert effects.timeline[0].message == "error_rate_critical breaching on its latest window"
    held = on_decision(inc, _turn(False, NOW + 50, 3), DecisionContext(NOW + 50, "x"), CFG)
    assert held is not None
    assert held.timeline[0].message.endswith("held firing by keep_firing_for on its latest window")


def test_a_re_armed_alert_that_breaches_again_opens_a_new_incident_with_the_whole_response() -> (
    None
):
    """The bad version deployed again after the incident was resolved by hand: stage 2 turns
    the alert (still firing there) from held back to breaching — a new incident, paged, the
    breaker opened, rolled back."""
    again = _turn(True, NOW + 90)
    assert turn(None, again) == "breach"
    effects = on_decision(None, again, DecisionContext(NOW + 90, "inc_2"), CFG)
    assert effects is not None and effects.incident.id == "inc_2"
    assert [a.kind for a in effects.actions] == ["page", "chat", "status_page", "breaker"]
    assert effects.rollback is not None and effects.events[0].type == "opened"
    assert effects.timeline[0].reason == RearmReason.BREACH


def test_a_turn_to_held_with_no_incident_is_nothing() -> None:
    held = _turn(False, NOW + 90)
    assert turn(None, held) == "ignore"
    assert on_decision(None, held, DecisionContext(NOW + 90, "inc_2"), CFG) is None


def _resolved() -> Incident:
    return resolve(_critical(), NOW + 30, CFG, "resolved by ana", by="ana").incident


def test_still_breaching_at_the_end_of_the_grace_is_delivered_again_as_a_breach() -> None:
    resolved, latest = _resolved(), decision(at=NOW, breaching=True)
    again, why = redelivery(resolved, latest, "inc_1", NOW + 150, CFG)
    assert why is RearmReason.STILL_BREACHING and again is not None
    assert again.decision_id == redelivery_id(resolved, latest.fingerprint)
    assert is_turn(again) and again.breaching and again.at_ms == int((NOW + 150) * 1000)
    assert "still firing 2 min after inc_1 was resolved by hand" in again.summary
    effects = on_decision(None, again, DecisionContext(NOW + 150, "inc_3"), CFG)
    assert effects is not None and effects.incident.id == "inc_3" and effects.rollback is not None


def test_no_redelivery_when_it_stopped_breaching_or_a_newer_incident_holds_it() -> None:
    resolved = _resolved()
    cases = [
        (decision(at=NOW + 60, previous="firing", breaching=False), None),
        (decision(at=NOW + 60, state="resolved", seq=3), None),
        (None, None),
    ]
    for latest, holder in cases:
        again, why = redelivery(resolved, latest, holder, NOW + 150, CFG)
        assert (again, why) == (None, RearmReason.NOT_BREACHING), latest
    again, why = redelivery(resolved, decision(at=NOW + 60), "inc_2", NOW + 150, CFG)
    assert (again, why) == (None, RearmReason.ELSEWHERE)


def test_effects_of_a_redelivered_breach_compose() -> None:
    """The new incident's effects stand alone: nothing of the resolved one leaks into them."""
    again, _ = redelivery(_resolved(), decision(at=NOW), None, NOW + 150, CFG)
    assert again is not None
    effects = on_decision(None, again, DecisionContext(NOW + 150, "inc_3"), CFG)
    assert isinstance(effects, Effects) and not effects.incident.done("rearmed")
