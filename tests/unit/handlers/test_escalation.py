"""The escalation schedule: what is due at each moment, and why (table-tested, pure)."""

from __future__ import annotations

import dataclasses

import pytest

from handlers.config import ResponseConfig
from handlers.escalation import (
    EscalationReason as R,
)
from handlers.escalation import (
    Step,
    escalation_due,
    next_escalation,
    next_escalation_at,
    on_escalation,
)
from handlers.incidents.incident import Incident
from schemas.severity import Severity

CFG = ResponseConfig()  # the plan: 5 / 10 / 15 / 20 min, updates every 2 and 5 min
T0 = 1_800_000_000.0


def incident(
    severity: Severity = Severity.CRITICAL,
    status: str = "open",
    steps: tuple[str, ...] = (),
    **kw: object,
) -> Incident:
    return Incident(
        id="inc_1",
        service="chat-api",
        severity=severity,
        status=status,
        title="t",
        opened_at=T0,
        last_decision_at=T0,
        steps=frozenset(steps),
        **kw,
    )


PAGED = ("page:CRITICAL", "status_page:CRITICAL", "rollback")


@pytest.mark.parametrize(
    ("inc", "minutes", "expected"),
    [
        (incident(steps=PAGED), 1.0, []),
        (incident(steps=PAGED), 2.0, [(Step.CHAT_UPDATE, R.INTERNAL_UPDATE, 1)]),
        (
            incident(steps=(*PAGED, "chat_update:1")),
            5.0,
            [
                (Step.CHAT_UPDATE, R.INTERNAL_UPDATE, 2),
                (Step.LEAD_ENGINEER, R.LEAD_ENGINEER, 0),
                (Step.STATUS_UPDATE, R.STAKEHOLDER_UPDATE, 1),
            ],
        ),
        # a worker was down: missed updates become one, numbered after the latest interval
        (
            incident(
                steps=(*PAGED, "escalation:lead_engineer", "chat_update:1", "status_update:1")
            ),
            9.0,
            [
                (Step.CHAT_UPDATE, R.INTERNAL_UPDATE, 4),
            ],
        ),
        (
            incident(
                steps=(*PAGED, "escalation:lead_engineer", "chat_update:5", "status_update:2")
            ),
            10.0,
            [(Step.TEAM_LEAD, R.TEAM_LEAD, 0)],
        ),
        # critical and no rollback yet at 15 min: roll back
        (
            incident(steps=("escalation:lead_engineer", "escalation:team_lead", "chat_update:7")),
            15.0,
            [(Step.ROLLBACK, R.CRITICAL_ROLLBACK, 0)],
        ),
        # HIGH never gets the 15-minute rollback
        (
            incident(
                Severity.HIGH,
                steps=("escalation:lead_engineer", "escalation:team_lead", "chat_update:7"),
            ),
            15.0,
            [],
        ),
        (
            incident(
                steps=(
                    *PAGED,
                    "escalation:lead_engineer",
                    "escalation:team_lead",
                    "chat_update:9",
                    "status_update:3",
                )
            ),
            20.0,
            [
                (Step.FINAL_CONTACT, R.FINAL_CONTACT, 0),
                (Step.CHAT_UPDATE, R.INTERNAL_UPDATE, 10),
                (Step.STATUS_UPDATE, R.STAKEHOLDER_UPDATE, 4),
            ],
        ),
        # acknowledged still escalates (the plan: "if not resolved")
        (
            incident(status="acknowledged", steps=(*PAGED, "chat_update:2", "status_update:1")),
            5.0,
            [(Step.LEAD_ENGINEER, R.LEAD_ENGINEER, 0)],
        ),
        # mitigated: no more escalation, updates go on
        (
            incident(status="mitigated", steps=(*PAGED, "chat_update:2", "status_update:1")),
            6.0,
            [(Step.CHAT_UPDATE, R.INTERNAL_UPDATE, 3)],
        ),
        # LOW is recorded only
        (incident(Severity.LOW), 30.0, []),
        # resolved: only the post-incident review reminder, an hour after
        (incident(status="resolved", resolved_at=T0 + 600), 30.0, []),
        (
            incident(status="resolved", resolved_at=T0 + 600),
            70.0,
            [(Step.REVIEW_REMINDER, R.REVIEW_DUE, 0)],
        ),
        (incident(Severity.MEDIUM, status="resolved", resolved_at=T0), 70.0, []),
    ],
)
def test_escalation_due(inc: Incident, minutes: float, expected: list[tuple[Step, R, int]]) -> None:
    due = escalation_due(inc, T0 + minutes * 60, CFG)
    assert [(d.step, d.reason, d.seq) for d in due] == expected


def test_next_wakeup_is_the_earliest_pending_step() -> None:
    assert next_escalation_at(incident(steps=PAGED), CFG) == T0 + 120
    done = incident(status="resolved", resolved_at=T0, steps=("escalation:review_reminder",))
    assert next_escalation_at(done, CFG) is None


def test_every_duration_and_name_comes_from_config() -> None:
    fast = ResponseConfig(
        lead_engineer_after_s=1,
        final_contact_after_s=2,
        final_contact="Erin",
        chat_update_every_s=100,
    )
    effects = on_escalation(incident(steps=PAGED), T0 + 2, fast)
    contacts = [a.payload.get("contact") for a in effects.actions if a.kind == "page"]
    assert contacts == ["lead engineer", "Erin"]


def test_doing_what_is_due_records_it_once_and_schedules_the_next() -> None:
    inc = incident(steps=(*PAGED, "chat_update:1"))
    effects = on_escalation(inc, T0 + 300, CFG)
    assert "escalation:lead_engineer" in effects.incident.steps
    pages = [a for a in effects.actions if a.kind == "page"]
    assert [a.key for a in pages] == ["inc_1:page:trigger:escalation:lead_engineer"]
    assert [t.due_at for t in effects.timers] == [T0 + 360]
    again = on_escalation(effects.incident, T0 + 300, CFG)
    assert again.actions == ()


def test_the_fifteen_minute_mark_requests_a_rollback() -> None:
    steps = ("escalation:lead_engineer", "escalation:team_lead", "chat_update:7")
    inc = incident(steps=steps, bad_version="2.4.0", last_good_version="2.3.9")
    effects = on_escalation(inc, T0 + 900, CFG)
    assert effects.rollback is not None and "rollback" in effects.incident.steps
    assert dataclasses.replace(effects.incident).done("escalation:rollback")


@pytest.mark.parametrize(
    ("inc", "expected"),
    [
        (incident(steps=PAGED), (Step.LEAD_ENGINEER, T0 + 300)),
        (incident(steps=(*PAGED, "escalation:lead_engineer")), (Step.TEAM_LEAD, T0 + 600)),
        # CRITICAL with no rollback yet: the escalation clock's rollback comes before Dave
        (
            incident(steps=("escalation:lead_engineer", "escalation:team_lead")),
            (Step.ROLLBACK, T0 + 900),
        ),
        (
            incident(steps=(*PAGED, "escalation:lead_engineer", "escalation:team_lead")),
            (Step.FINAL_CONTACT, T0 + 1200),
        ),
        (incident(status="mitigated", steps=PAGED), None),  # mitigated: the ladder stops
        (incident(Severity.LOW), None),
    ],
)
def test_the_next_escalation_step_is_the_ladders_earliest_left(
    inc: Incident, expected: tuple[Step, float] | None
) -> None:
    found = next_escalation(inc, CFG)
    assert (None if found is None else (found.step, found.at)) == expected


def test_the_rollback_mark_without_a_target_requests_none_and_says_why() -> None:
    steps = ("escalation:lead_engineer", "escalation:team_lead", "chat_update:7")
    effects = on_escalation(incident(steps=steps, bad_version="2.4.0"), T0 + 900, CFG)
    assert effects.rollback is None and not effects.incident.done("rollback")
    assert effects.incident.done("escalation:rollback")  # the mark passed: not due again
    assert [t.message for t in effects.timeline][:2] == [
        "no rollback at the rollback mark",
        "no rollback; escalated to lead engineer",
    ]
    assert "no other version deployed successfully before it" in effects.timeline[0].reason
