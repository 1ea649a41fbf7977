"""The plan's escalation path and status cadence, as a pure schedule.

``escalation_due`` says what is due now and why, ``next_escalation_at`` when to look again,
``on_escalation`` what doing a step means. The ladder (lead engineer, team lead, rollback if
CRITICAL, final contact) and the update cadence are the plan's: docs/response.md, "Escalation
and updates". Each step is recorded in ``incident.steps``, so it happens once whatever the
number of workers, and updates missed while a worker was down are coalesced into one rather
than sent in a burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from handlers.config import ResponseConfig
from handlers.incidents import notices
from handlers.incidents.effects import (
    Effects,
    EventIntent,
    RollbackIntent,
    TimelineEntry,
    TimerIntent,
)
from handlers.incidents.incident import Incident
from handlers.incidents.target import no_target_reason
from schemas.severity import Severity
from schemas.timestamps import to_rfc3339

__all__ = [
    "Due",
    "EscalationReason",
    "Step",
    "escalation_due",
    "next_escalation",
    "next_escalation_at",
    "no_rollback_target",
    "on_escalation",
]


class Step(StrEnum):
    LEAD_ENGINEER = "lead_engineer"
    TEAM_LEAD = "team_lead"
    ROLLBACK = "rollback"
    FINAL_CONTACT = "final_contact"
    CHAT_UPDATE = "chat_update"
    STATUS_UPDATE = "status_update"
    REVIEW_REMINDER = "review_reminder"


class EscalationReason(StrEnum):
    LEAD_ENGINEER = "unresolved at the lead engineer's mark: lead engineer investigates"
    TEAM_LEAD = "not resolved at the team lead's mark: escalate to team lead"
    CRITICAL_ROLLBACK = "critical and unresolved at the rollback mark: roll back"
    FINAL_CONTACT = "still unresolved at the final mark: escalate to the final contact"
    INTERNAL_UPDATE = "internal update interval elapsed"
    STAKEHOLDER_UPDATE = "stakeholder update interval elapsed"
    REVIEW_DUE = "major incident resolved: post-incident review due"


@dataclass(frozen=True)
class Due:
    step: Step
    reason: EscalationReason
    at: float
    seq: int = 0


def _escalating(inc: Incident, cfg: ResponseConfig) -> bool:
    return inc.status in ("open", "acknowledged") and inc.severity >= cfg.escalate_min_severity


def _last_seq(inc: Incident, step: Step) -> int:
    prefix = f"{step.value}:"
    seqs = [int(s[len(prefix) :]) for s in inc.steps if s.startswith(prefix)]
    return max(seqs, default=0)


def _ladder(inc: Incident, cfg: ResponseConfig) -> list[Due]:
    if not _escalating(inc, cfg):
        return []
    start = inc.opened_at
    ladder = [
        Due(Step.LEAD_ENGINEER, EscalationReason.LEAD_ENGINEER, start + cfg.lead_engineer_after_s),
        Due(Step.TEAM_LEAD, EscalationReason.TEAM_LEAD, start + cfg.team_lead_after_s),
        Due(Step.FINAL_CONTACT, EscalationReason.FINAL_CONTACT, start + cfg.final_contact_after_s),
    ]
    if inc.severity is Severity.CRITICAL and not inc.done("rollback"):
        at = start + cfg.critical_rollback_after_s
        ladder.append(Due(Step.ROLLBACK, EscalationReason.CRITICAL_ROLLBACK, at))
    return [d for d in ladder if not inc.done(f"escalation:{d.step.value}")]


def _cadence(inc: Incident, step: Step, every: float, reason: EscalationReason) -> Due:
    seq = _last_seq(inc, step) + 1
    return Due(step, reason, inc.opened_at + seq * every, seq)


def _updates(inc: Incident, cfg: ResponseConfig) -> list[Due]:
    if inc.status == "resolved" or inc.severity < cfg.updates_min_severity:
        return []
    due = [
        _cadence(inc, Step.CHAT_UPDATE, cfg.chat_update_every_s, EscalationReason.INTERNAL_UPDATE)
    ]
    if any(s.startswith("status_page:") for s in inc.steps):
        reason = EscalationReason.STAKEHOLDER_UPDATE
        due.append(_cadence(inc, Step.STATUS_UPDATE, cfg.status_update_every_s, reason))
    return due


def _review(inc: Incident, cfg: ResponseConfig) -> list[Due]:
    major = inc.severity >= Severity.HIGH or inc.done("rollback")
    if inc.resolved_at is None or not major or inc.done("escalation:review_reminder"):
        return []
    at = inc.resolved_at + cfg.review_reminder_after_s
    return [Due(Step.REVIEW_REMINDER, EscalationReason.REVIEW_DUE, at)]


def _candidates(inc: Incident, cfg: ResponseConfig) -> list[Due]:
    return sorted(_ladder(inc, cfg) + _updates(inc, cfg) + _review(inc, cfg), key=lambda d: d.at)


def _coalesce(due: Due, now: float, inc: Incident, every: float) -> Due:
    """Skipped updates (a worker was down) become one: numbered after the latest interval."""
    seq = max(due.seq, math.floor((now - inc.opened_at) / every))
    return Due(due.step, due.reason, due.at, seq)


def escalation_due(inc: Incident, now: float, cfg: ResponseConfig) -> list[Due]:
    due = [d for d in _candidates(inc, cfg) if d.at <= now]
    every = {
        Step.CHAT_UPDATE: cfg.chat_update_every_s,
        Step.STATUS_UPDATE: cfg.status_update_every_s,
    }
    return [_coalesce(d, now, inc, every[d.step]) if d.step in every else d for d in due]


def next_escalation_at(inc: Incident, cfg: ResponseConfig) -> float | None:
    candidates = _candidates(inc, cfg)
    return candidates[0].at if candidates else None


def next_escalation(inc: Incident, cfg: ResponseConfig) -> Due | None:
    """The escalation ladder's next step still to be taken (status updates aside): what an
    operator looking at the incident wants to know is coming, and when."""
    ladder = sorted(_ladder(inc, cfg), key=lambda d: d.at)
    return ladder[0] if ladder else None


def _age(inc: Incident, now: float) -> str:
    return f"{(now - inc.opened_at) / 60:.1f} min"


def _escalate_to(inc: Incident, step: Step, contact: str, now: float, reason: str) -> Effects:
    summary = f"ESCALATION to {contact}: {inc.title} ({inc.service}, open {_age(inc, now)})"
    tier = notices.tier_of(step.value)
    page = notices.page(
        inc, "trigger", f"escalation:{step.value}", summary, contact=contact, tier=tier, at=now
    )
    chat = notices.chat(
        inc, f"escalation:{step.value}", f"{inc.id} escalated to {contact} — {reason}"
    )
    return Effects(
        inc,
        timeline=(TimelineEntry("escalation", f"escalated to {contact}", reason=reason),),
        actions=(page, chat),
        events=(EventIntent("escalated", {"to": contact, "step": step.value, "reason": reason}),),
    )


def _do(inc: Incident, due: Due, now: float, cfg: ResponseConfig) -> Effects:
    inc = inc.with_steps(
        f"escalation:{due.step.value}" if not due.seq else f"{due.step.value}:{due.seq}"
    )
    reason = due.reason.value
    contacts = {
        Step.LEAD_ENGINEER: cfg.lead_engineer,
        Step.TEAM_LEAD: cfg.team_lead,
        Step.FINAL_CONTACT: cfg.final_contact,
    }
    if due.step in contacts:
        return _escalate_to(inc, due.step, contacts[due.step], now, reason)
    if due.step is Step.ROLLBACK:
        if inc.last_good_version is None and not inc.involves_data:
            note = TimelineEntry(
                "escalation", "no rollback at the rollback mark", reason=no_target_reason(inc)
            )
            return Effects(inc, timeline=(note,)).then(no_rollback_target(inc, now, cfg))
        inc = inc.with_steps("rollback")
        note = TimelineEntry(
            "escalation", "rollback started by the escalation clock", reason=reason
        )
        return Effects(inc, timeline=(note,), rollback=RollbackIntent(reason))
    if due.step is Step.CHAT_UPDATE:
        text = (
            f"update {due.seq} on {inc.id} ({inc.service}): {inc.severity.value}, {inc.status}, "
            f"open {_age(inc, now)}; rollback: {inc.rollback_status or 'none'}"
        )
        return Effects(inc, actions=(notices.chat(inc, "update", text, due.seq),))
    if due.step is Step.STATUS_UPDATE:
        status = "monitoring" if inc.status == "mitigated" else "identified"
        body = f"Update {due.seq}: we continue to work on {inc.service} ({_age(inc, now)})."
        return Effects(inc, actions=(notices.status_page(inc, status, body, f"update:{due.seq}"),))
    deadline = to_rfc3339((inc.resolved_at or now) + cfg.review_due_within_s)
    text = f"reminder: post-incident review of {inc.id} ({inc.title}) due by {deadline}"
    note = TimelineEntry("escalation", "post-incident review reminder sent", reason=reason)
    return Effects(inc, timeline=(note,), actions=(notices.chat(inc, "review_reminder", text),))


def no_rollback_target(inc: Incident, now: float, cfg: ResponseConfig) -> Effects:
    """A rollback is due but there is no version to go back to: no breaker is opened for it
    and no phase runs (the remedy would only keep a feature closed); the lead engineer is
    paged at once — not at the escalation mark — and told why. Once per incident."""
    if inc.done("escalation:no_rollback_target"):
        return Effects(inc)
    why = no_target_reason(inc)
    contact = cfg.lead_engineer
    after = inc.with_steps("escalation:no_rollback_target", "escalation:lead_engineer")
    summary = f"NO AUTOMATIC ROLLBACK for {inc.service}: {why}; a person must decide"
    return Effects(
        after,
        timeline=(TimelineEntry("escalation", f"no rollback; escalated to {contact}", reason=why),),
        actions=(
            notices.page(after, "trigger", "no_rollback_target", summary, contact=contact),
            notices.chat(after, "no_rollback_target", f"{inc.id}: {summary}"),
        ),
        events=(EventIntent("escalated", {"to": contact, "reason": why}),),
        timers=_next_timer(after, cfg),
    )


def _next_timer(inc: Incident, cfg: ResponseConfig) -> tuple[TimerIntent, ...]:
    due = next_escalation_at(inc, cfg)
    return (TimerIntent("escalation", due),) if due is not None else ()


def on_escalation(inc: Incident, now: float, cfg: ResponseConfig) -> Effects:
    """Do whatever is due; then the next timer, if anything is left to wait for."""
    effects = Effects(inc)
    for due in escalation_due(inc, now, cfg):
        effects = effects.then(_do(effects.incident, due, now, cfg))
    after = effects.incident
    nxt = next_escalation_at(after, cfg)
    timers = (TimerIntent("escalation", nxt),) if nxt is not None else ()
    return effects.then(Effects(after, timers=timers))
