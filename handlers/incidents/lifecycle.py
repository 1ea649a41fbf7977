"""Lifecycle steps of an incident after it opened — pure, each with a reason.

Acknowledge, resolve, a MEDIUM incident's human decision, the HIGH investigation's verdict, a
breach after a "no rollback" verdict, and a rollback's end. The investigation's verdict is on
the breach itself: the incident rolls back only if one of its HIGH or CRITICAL alerts still
breaches on its latest window. An alert kept firing only by ``keep_firing_for`` does not count
(that hysteresis keeps notifications from flapping; it is no evidence the problem is still
there), nor does one with no data or a LOW or MEDIUM alert that joined; such an incident stays
open and rolls back if an alert breaches again before it resolves (docs/detection-quality.md,
"The HIGH investigation's verdict is on the breach itself").
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Any, Literal

from handlers.config import ResponseConfig
from handlers.escalation import next_escalation_at, no_rollback_target
from handlers.incidents import notices
from handlers.incidents.effects import (
    ActionIntent,
    Effects,
    EventIntent,
    RollbackIntent,
    TimelineEntry,
    TimerIntent,
)
from handlers.incidents.incident import AlertEntry, Incident
from handlers.incidents.rearm import rearm
from handlers.incidents.target import no_target_reason
from handlers.readiness.verdict import GATE_RULE
from schemas.errors import CommandError
from schemas.severity import Severity
from schemas.timestamps import to_rfc3339

__all__ = [
    "HumanAction",
    "InvestigationReason",
    "LifecycleError",
    "acknowledge",
    "breach_after_investigation",
    "human_decision",
    "investigation_expired",
    "investigation_verdict",
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
    CLEARING = (
        "no alert breaches on its latest window, firing only by keep_firing_for: no rollback "
        "(a breach before it resolves rolls back)"
    )
    NO_DATA = (
        "no alert breaches on its latest window and some have no data, so neither recovery "
        "nor the breach can be shown: no rollback (a breach when data returns rolls back)"
    )
    EXPIRED = (
        "investigation window ended, the condition still breaches on the latest window, "
        "nobody has taken it: roll back"
    )
    BREACHED_AFTER = (
        "breaches again after an investigation that ended without a rollback, nobody has "
        "taken it: roll back"
    )
    NO_TARGET = "the condition still breaches, but there is no version to roll back to"


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
    if inc.severity >= Severity.HIGH or inc.done("rollback"):
        # The plan's review "after any rollback or major incident" is drafted from the evidence
        # (app.reviews): the message links it.
        text += f" — draft: GET /incidents/{inc.id}/review (`alertpipe review {inc.id}`)"
    pages = [
        notices.page(after, "resolve", "resolution", f"resolved: {reason}", tier=tier)
        for tier in notices.paged_tiers(inc)
    ]
    actions = [*pages, notices.chat(after, "resolved", text)]
    if any(s.startswith("status_page:") for s in inc.steps):
        body = f"The issue affecting {inc.service} has been resolved."
        actions.append(notices.status_page(after, "resolved", body, "final"))
    resolved = Effects(
        after,
        timeline=(TimelineEntry("status", "resolved", actor=by, reason=reason),),
        actions=tuple(actions),
        timers=_reschedule(after, cfg),
        events=(EventIntent("resolved", {"by": by, "reason": reason}),),
    )
    # Only a person resolves an incident whose alerts still fire: they are re-armed.
    return resolved.then(rearm(after, now, cfg))


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
    if inc.last_good_version is None and not inc.involves_data:
        raise LifecycleError(f"incident {inc.id}: {no_target_reason(inc)}; roll back by hand")
    after = recorded.with_steps("rollback")
    return Effects(
        after,
        timeline=(note_entry,),
        rollback=RollbackIntent(
            f"human decision by {by}: {note or 'rollback'}", after.involves_data
        ),
    )


def _serious(inc: Incident) -> list[AlertEntry]:
    """The alerts a rollback can be for: HIGH and above (a LOW or MEDIUM alert that joined the
    incident — an SLO ticket, a CPU notice — asks for a human, never for a rollback; nor does
    one whose rule only pages, a backup overdue)."""
    return [a for a in inc.alerts.values() if a.may_roll_back]


def investigation_verdict(inc: Incident) -> InvestigationReason:
    """What the end of the HIGH investigation window means for ``inc`` (see the module)."""
    serious = _serious(inc)
    breaching = any(a.breaches for a in serious)
    if inc.status == "mitigated":
        return InvestigationReason.NOT_OPEN
    if inc.done("rollback"):
        return InvestigationReason.ALREADY
    if not breaching and not any(a.state in ("firing", "no_data") for a in serious):
        return InvestigationReason.RECOVERED  # open or resolved by itself: recovered
    if not inc.is_open:
        return InvestigationReason.NOT_OPEN
    if inc.held:
        return InvestigationReason.HELD
    if breaching:
        return InvestigationReason.EXPIRED
    if any(a.state == "no_data" for a in serious):
        return InvestigationReason.NO_DATA
    return InvestigationReason.CLEARING


def _alerts_evidence(inc: Incident) -> dict[str, Any]:
    """Each alert as the verdict saw it: its state, whether it breaches, its latest evidence."""
    return {
        "alerts": [
            {
                "rule": a.rule,
                "scope": dict(a.scope),
                "state": a.state,
                "breaching": a.breaching,
                "counts": a.breaches,
                **dict(a.evidence),
            }
            for a in sorted(inc.alerts.values(), key=lambda a: (-a.severity.rank, a.rule))
        ]
    }


def investigation_expired(
    inc: Incident, now: float, cfg: ResponseConfig
) -> tuple[Effects, InvestigationReason]:
    verdict = investigation_verdict(inc)
    message = f"investigation window of {notices.duration_text(cfg.investigation_s)} ended"
    evidence = _alerts_evidence(inc)
    if verdict is InvestigationReason.EXPIRED:
        return _roll_back(inc, now, cfg, message, verdict, evidence)
    if verdict in (InvestigationReason.CLEARING, InvestigationReason.NO_DATA):
        inc = inc.with_steps("investigation:deferred")
    note = TimelineEntry("timer", message, reason=verdict.value, evidence=evidence)
    return Effects(inc, timeline=(note,)), verdict


def breach_after_investigation(inc: Incident, now: float, cfg: ResponseConfig) -> Effects | None:
    """After an investigation that ended without a rollback because nothing breached: once an
    alert of the still-open incident breaches again (and nobody has taken it), roll back."""
    waiting = inc.done("investigation:deferred") and not inc.done("rollback")
    if not waiting or investigation_verdict(inc) is not InvestigationReason.EXPIRED:
        return None
    if inc.done("escalation:no_rollback_target"):
        return None
    message = "breach after the investigation window"
    verdict = InvestigationReason.BREACHED_AFTER
    effects, _ = _roll_back(inc, now, cfg, message, verdict, _alerts_evidence(inc))
    return effects


def _roll_back(
    inc: Incident,
    now: float,
    cfg: ResponseConfig,
    message: str,
    verdict: InvestigationReason,
    evidence: dict[str, Any],
) -> tuple[Effects, InvestigationReason]:
    """A rollback for ``verdict`` — or, with no version to go back to, people at once."""
    if inc.last_good_version is None and not inc.involves_data:
        reason = InvestigationReason.NO_TARGET
        note = TimelineEntry("timer", message, reason=reason.value, evidence=evidence)
        return Effects(inc, timeline=(note,)).then(no_rollback_target(inc, now, cfg)), reason
    after = inc.with_steps("rollback")
    note = TimelineEntry("timer", message, reason=verdict.value, evidence=evidence)
    return Effects(after, timeline=(note,), rollback=RollbackIntent(verdict.value)), verdict


def _retire_unready(inc: Incident) -> tuple[Incident, tuple[TimelineEntry, ...]]:
    """A verified rollback took the versions deployed while not ready out of service: their
    gate alerts are over (nothing else would ever resolve them)."""
    gate = {fp: a for fp, a in inc.alerts.items() if a.rule == GATE_RULE and a.state == "firing"}
    if not gate:
        return inc, ()
    ended = {fp: replace(a, state="resolved", breaching=False) for fp, a in gate.items()}
    note = TimelineEntry(
        "decision",
        f"{GATE_RULE} resolved",
        reason="the version deployed while not ready was rolled back",
    )
    return replace(inc, alerts={**inc.alerts, **ended}), (note,)


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
    after, retired = _retire_unready(replace(inc, rollback_status="succeeded"))
    if after.is_open and after.status != "mitigated":
        after = replace(after, status="mitigated", mitigated_at=now)
    text = f"{inc.id}: rollback of {inc.service} complete and verified — {reason}"
    done = TimelineEntry("rollback", "rollback complete; service verified", reason=reason)
    effects = Effects(
        after,
        timeline=(done, *retired),
        actions=(notices.chat(after, "rollback_done", text),),
        events=(EventIntent("mitigated", {"reason": reason}),),
        timers=_reschedule(after, cfg),
    )
    if after.is_open and not after.firing:
        return effects.then(resolve(after, now, cfg, "rollback verified and alerts resolved"))
    return effects
