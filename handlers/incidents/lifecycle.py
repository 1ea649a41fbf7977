"""Lifecycle steps of an incident after it opened — pure, each with a reason.

acknowledge(incident, by, note, now)            a human has seen it (with a note: has taken it)
resolve(incident, now, cfg, reason, by)          resolution notices, then the review reminder
human_decision(incident, action, by, note, now)  MEDIUM: "rollback" or "dismiss"
investigation_expired(incident, now)             HIGH: roll back unless recovered or taken
rollback_finished(incident, ok, reason, now)     mitigated, or escalated with breakers still open
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Literal

from handlers.config import ResponseConfig
from handlers.escalation import next_escalation_at
from handlers.incidents import notices
from handlers.incidents.effects import (
    ActionIntent,
    Effects,
    EventIntent,
    RollbackIntent,
    TimelineEntry,
    TimerIntent,
)
from handlers.incidents.incident import Incident
from schemas.errors import CommandError
from schemas.timestamps import to_rfc3339

__all__ = [
    "HumanAction",
    "InvestigationReason",
    "LifecycleError",
    "acknowledge",
    "human_decision",
    "investigation_expired",
    "resolve",
    "rollback_finished",
]

HumanAction = Literal["rollback", "dismiss"]


class LifecycleError(CommandError, ValueError):
    """A lifecycle step that does not apply to the incident as it is (e.g. ack a resolved one)."""


class InvestigationReason(StrEnum):
    RECOVERED = "recovered inside the investigation window: no rollback"
    HELD = "held: acknowledged with a note, a human has taken it"
    NOT_OPEN = "incident no longer open"
    ALREADY = "rollback already under way"
    EXPIRED = "investigation window expired, alert still firing, nobody has taken it: roll back"


def _reschedule(inc: Incident, cfg: ResponseConfig) -> tuple[TimerIntent, ...]:
    due = next_escalation_at(inc, cfg)
    return (TimerIntent("escalation", due),) if due is not None else ()


def acknowledge(inc: Incident, by: str, note: str | None, now: float) -> Effects:
    if not inc.is_open:
        raise LifecycleError(f"incident {inc.id} is resolved; nothing to acknowledge")
    after = replace(
        inc,
        status="acknowledged" if inc.status == "open" else inc.status,
        acknowledged_at=inc.acknowledged_at or now,
        acknowledged_by=by,
        ack_note=note or inc.ack_note,
    )
    actions: list[ActionIntent] = []
    for tier in notices.paged_tiers(inc):
        step = "page:acknowledged" + ("" if tier == "on_call" else f":{tier}")
        if not inc.done(step):
            after = after.with_steps(step)
            why = f"acknowledged by {by}"
            actions.append(notices.page(after, "acknowledge", "human", why, tier=tier))
    held = " (holds the investigation rollback)" if after.held else ""
    return Effects(
        after,
        timeline=(
            TimelineEntry("human", f"acknowledged by {by}{held}", actor=by, reason=note or ""),
        ),
        actions=tuple(actions),
        events=(EventIntent("acknowledged", {"by": by, "note": note}),),
    )


def resolve(
    inc: Incident, now: float, cfg: ResponseConfig, reason: str, by: str = "alertpipe"
) -> Effects:
    if not inc.is_open:
        raise LifecycleError(f"incident {inc.id} is already resolved")
    after = replace(inc, status="resolved", resolved_at=now)
    deadline = to_rfc3339(now + cfg.review_due_within_s)
    text = (
        f"RESOLVED {inc.id} on {inc.service}: {inc.title} — {reason}. "
        f"Post-incident review due by {deadline}"
    )
    pages = [
        notices.page(after, "resolve", "resolution", f"resolved: {reason}", tier=tier)
        for tier in notices.paged_tiers(inc)
    ]
    actions = [*pages, notices.chat(after, "resolved", text)]
    if any(s.startswith("status_page:") for s in inc.steps):
        body = f"The issue affecting {inc.service} has been resolved."
        actions.append(notices.status_page(after, "resolved", body, "final"))
    return Effects(
        after,
        timeline=(TimelineEntry("status", "resolved", actor=by, reason=reason),),
        actions=tuple(actions),
        timers=_reschedule(after, cfg),
        events=(EventIntent("resolved", {"by": by, "reason": reason}),),
    )


def human_decision(
    inc: Incident, action: HumanAction, by: str, note: str | None, now: float, cfg: ResponseConfig
) -> Effects:
    if not inc.is_open:
        raise LifecycleError(f"incident {inc.id} is resolved; no decision to take")
    recorded = replace(inc, human_decision=action)
    note_entry = TimelineEntry("human", f"decision: {action} by {by}", actor=by, reason=note or "")
    if action == "dismiss":
        return Effects(recorded, timeline=(note_entry,)).then(
            resolve(recorded, now, cfg, f"dismissed by {by}", by=by)
        )
    if inc.done("rollback"):
        raise LifecycleError(f"incident {inc.id} already has a rollback ({inc.rollback_status})")
    after = recorded.with_steps("rollback")
    return Effects(
        after,
        timeline=(note_entry,),
        rollback=RollbackIntent(
            f"human decision by {by}: {note or 'rollback'}", after.involves_data
        ),
    )


def investigation_expired(inc: Incident, now: float) -> tuple[Effects, InvestigationReason]:
    if inc.status == "mitigated":
        reason = InvestigationReason.NOT_OPEN
    elif inc.done("rollback"):
        reason = InvestigationReason.ALREADY
    elif not inc.firing:  # open or resolved by itself: the alerts recovered in the window
        reason = InvestigationReason.RECOVERED
    elif not inc.is_open:
        reason = InvestigationReason.NOT_OPEN
    elif inc.held:
        reason = InvestigationReason.HELD
    else:
        after = inc.with_steps("rollback")
        note = TimelineEntry(
            "timer", "investigation window ended", reason=InvestigationReason.EXPIRED
        )
        return Effects(
            after, timeline=(note,), rollback=RollbackIntent(InvestigationReason.EXPIRED)
        ), (InvestigationReason.EXPIRED)
    note = TimelineEntry("timer", "investigation window ended", reason=reason.value)
    return Effects(inc, timeline=(note,)), reason


def rollback_finished(
    inc: Incident, ok: bool, reason: str, now: float, cfg: ResponseConfig
) -> Effects:
    """After the orchestrator's last phase: mitigated (resolved if nothing fires), or escalated."""
    if not ok:
        after = replace(inc, rollback_status="failed").with_steps("escalation:rollback_failed")
        contact = cfg.final_contact
        summary = f"ROLLBACK FAILED for {inc.service}: {reason}; breakers stay open"
        return Effects(
            after,
            timeline=(TimelineEntry("rollback", "rollback failed; escalated", reason=reason),),
            actions=(
                notices.page(
                    after,
                    "trigger",
                    "rollback_failed",
                    summary,
                    contact=contact,
                    tier="final_contact",
                    at=now,
                ),
                notices.chat(
                    after, "rollback_failed", f"{inc.id}: {summary} — escalated to {contact}"
                ),
            ),
            events=(EventIntent("escalated", {"to": contact, "reason": reason}),),
        )
    after = replace(inc, rollback_status="succeeded")
    if after.is_open and after.status != "mitigated":
        after = replace(after, status="mitigated", mitigated_at=now)
    text = f"{inc.id}: rollback of {inc.service} complete and verified — {reason}"
    effects = Effects(
        after,
        timeline=(TimelineEntry("rollback", "rollback complete; service verified", reason=reason),),
        actions=(notices.chat(after, "rollback_done", text),),
        events=(EventIntent("mitigated", {"reason": reason}),),
        timers=_reschedule(after, cfg),
    )
    if after.is_open and not after.firing:
        return effects.then(resolve(after, now, cfg, "rollback verified and alerts resolved"))
    return effects
