"""Each paging tier is its own pager alert: the escalation steps page their tier with its own
key, acknowledge and resolve reach every tier paged so far, and a page carries its evidence."""

from __future__ import annotations

from handlers.config import ResponseConfig
from handlers.escalation import on_escalation
from handlers.incidents import notices
from handlers.incidents.incident import AlertEntry, Incident
from handlers.incidents.lifecycle import acknowledge, resolve, rollback_finished
from schemas.severity import Severity

CFG = ResponseConfig()
T0 = 1_800_000_000.0
EVIDENCE = {
    "metric": "error_rate",
    "window_start_ms": 1_799_999_940_000,
    "window_end_ms": 1_800_000_000_000,
    "observed": 0.25,
    "comparison": ">",
    "threshold": 0.1,
    "samples": 400,
    "min_samples": 20,
}


def incident(steps: tuple[str, ...] = ("page:CRITICAL",)) -> Incident:
    alert = AlertEntry(
        "fp1",
        "core-error-rate-critical",
        "firing",
        Severity.CRITICAL,
        T0,
        {"endpoint": "POST /api/message"},
        T0 - 60,
        evidence=EVIDENCE,
    )
    return Incident(
        id="inc_1",
        service="chat-api",
        severity=Severity.CRITICAL,
        status="open",
        title="t",
        opened_at=T0,
        last_decision_at=T0,
        bad_version="2.4.0",
        last_good_version="2.3.9",
        scenario="S1",
        alerts={"fp1": alert},
        steps=frozenset(steps),
    )


def _pages(effects: object) -> list[tuple[str, str, str]]:
    return [
        (a.payload["event"], a.payload["tier"], a.key)
        for a in effects.actions  # type: ignore[attr-defined]
        if a.kind == "page"
    ]


def test_each_escalation_pages_its_own_tier_with_the_evidence() -> None:
    effects = on_escalation(incident(), T0 + 20 * 60, CFG)
    assert _pages(effects) == [
        ("trigger", "lead_engineer", "inc_1:page:trigger:escalation:lead_engineer"),
        ("trigger", "team_lead", "inc_1:page:trigger:escalation:team_lead"),
        ("trigger", "final_contact", "inc_1:page:trigger:escalation:final_contact"),
    ]
    page = next(a for a in effects.actions if a.kind == "page")
    assert page.payload["at"] == T0 + 20 * 60
    assert page.payload["rule"] == "core-error-rate-critical"
    assert page.payload["evidence"] == EVIDENCE
    assert page.payload["scope"] == {"endpoint": "POST /api/message"}
    assert (page.payload["version"], page.payload["last_good_version"]) == ("2.4.0", "2.3.9")


def test_acknowledge_and_resolve_reach_every_tier_paged_so_far() -> None:
    escalated = incident(
        ("page:CRITICAL", "escalation:lead_engineer", "escalation:rollback_failed")
    )
    assert notices.paged_tiers(escalated) == ["on_call", "lead_engineer", "final_contact"]
    acked = acknowledge(escalated, "ana", None, T0 + 60)
    assert _pages(acked) == [
        ("acknowledge", "on_call", "inc_1:page:acknowledge:human"),
        ("acknowledge", "lead_engineer", "inc_1:page:acknowledge:human:lead_engineer"),
        ("acknowledge", "final_contact", "inc_1:page:acknowledge:human:final_contact"),
    ]
    assert _pages(acknowledge(acked.incident, "bob", None, T0 + 90)) == []  # acknowledged once
    assert [tier for _, tier, _ in _pages(resolve(escalated, T0 + 120, CFG, "ok"))] == [
        "on_call",
        "lead_engineer",
        "final_contact",
    ]


def test_nothing_paged_nothing_closed_and_a_failed_rollback_pages_the_final_contact() -> None:
    quiet = incident(steps=())
    assert notices.paged_tiers(quiet) == []
    assert _pages(resolve(quiet, T0, CFG, "ok")) == []
    failed = rollback_finished(incident(), False, "verify timed out", T0 + 5, CFG)
    assert _pages(failed) == [
        ("trigger", "final_contact", "inc_1:page:trigger:rollback_failed:final_contact")
    ]
