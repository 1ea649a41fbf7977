"""Stage 3's decision: one severity decision in, the incident and the plan's response out.

    on_decision(current, decision, ctx, cfg) -> Effects | None

``current`` is the service's open incident (or None). ``None`` comes back when the decision
does not concern an incident (a pending alert with nothing open, a resolution of an alert
that is not part of one): the decision log still records it. Pure: time and the new
incident's id come in through ``DecisionContext``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from handlers.config import ResponseConfig
from handlers.escalation import next_escalation_at, no_rollback_target
from handlers.incidents import notices
from handlers.incidents.classify import (
    Cascade,
    classify,
    reason_text,
    response_for,
    should_join,
)
from handlers.incidents.effects import (
    ActionIntent,
    Effects,
    EventIntent,
    RollbackIntent,
    TimelineEntry,
    TimerIntent,
)
from handlers.incidents.incident import AlertEntry, Incident, worse_scenario
from handlers.incidents.lifecycle import breach_after_investigation, resolve
from handlers.incidents.rearm import RearmReason, is_turn, turn
from handlers.incidents.target import IN_EFFECT, choose_target
from handlers.readiness.verdict import GATE_RULE, GateVerdict
from schemas.decisions import Decision
from schemas.severity import Severity

__all__ = ["DecisionContext", "on_decision", "respond"]


@dataclass(frozen=True)
class DecisionContext:
    now: float
    new_incident_id: str
    cascade: Cascade = field(default_factory=Cascade)
    previous_deploy: str | None = None  # deploy history's fallback target for the decision
    unready_deploy: GateVerdict | None = None  # the decision's version went out while not ready


def _evidence(decision: Decision) -> dict[str, Any]:
    return {
        "decision_id": decision.decision_id,
        "rule": decision.rule,
        "scope": dict(decision.scope),
        "state": decision.state,
        "severity": decision.severity.value,
        **decision.evidence.model_dump(mode="json"),
    }


def _entry(decision: Decision, before: AlertEntry | None) -> AlertEntry:
    """The alert's latest state; its window start stays that of the first firing seen (the
    earliest evidence, which an S2 restore must predate)."""
    start = decision.evidence.window_start_ms / 1000.0
    if before is not None and before.window_start is not None:
        start = min(start, before.window_start)
    return AlertEntry(
        fingerprint=decision.fingerprint,
        rule=decision.rule,
        state=decision.state,
        severity=decision.severity,
        at=decision.at_ms / 1000.0,
        scope=dict(decision.scope),
        window_start=start,
        breaching=decision.breaching,
        evidence=_latest(decision),
        response=decision.response,
    )


def _latest(decision: Decision) -> dict[str, Any]:
    """The alert's latest evaluation, as the investigation's verdict and the pages show it."""
    e = decision.evidence
    return {
        "metric": e.metric,
        "observed": e.observed,
        "comparison": e.comparison,
        "threshold": e.threshold,
        "window_start_ms": e.window_start_ms,
        "window_end_ms": e.window_end_ms,
        "samples": e.samples,
        "min_samples": e.min_samples,
        "decided_at_ms": decision.at_ms,
        "summary": decision.summary,
    }


def _alert(incident: Incident, decision: Decision) -> AlertEntry:
    return _entry(decision, incident.alerts.get(decision.fingerprint))


def _title(decision: Decision) -> str:
    return decision.summary or f"{decision.severity.value}: {decision.rule} on {decision.service}"


def _open(decision: Decision, ctx: DecisionContext) -> Incident:
    return Incident(
        id=ctx.new_incident_id,
        service=decision.service,
        severity=decision.severity,
        status="open",
        title=_title(decision),
        opened_at=ctx.now,
        last_decision_at=decision.at_ms / 1000.0,
        dry_run=decision.dry_run,
        drill=decision.drill,
    )


def _absorb(
    incident: Incident, decision: Decision, ctx: DecisionContext, cfg: ResponseConfig
) -> Incident:
    """The incident with a firing decision folded in: worst severity, scenario, versions."""
    incident = _follow_deploys(incident, decision)
    scenario, _ = classify(decision, ctx.cascade, cfg)
    merged = worse_scenario(incident.scenario, scenario)
    worse = decision.severity > incident.severity
    return replace(
        _with_target(incident, decision, ctx),
        severity=max(incident.severity, decision.severity),
        title=_title(decision) if worse else incident.title,  # the worst alert names it
        scenario=merged,
        status="open" if incident.status == "mitigated" else incident.status,
        last_decision_at=max(incident.last_decision_at, decision.at_ms / 1000.0),
        bad_version=incident.bad_version or decision.version,
        involves_data=incident.involves_data or merged == "S2",
        alerts={**incident.alerts, decision.fingerprint: _alert(incident, decision)},
    )


def _follow_deploys(incident: Incident, decision: Decision) -> Incident:
    """An incident that holds only deploy-gate alerts ("deployed while not ready") is about
    the newest deploy: its bad version and rollback target follow each decision's version
    until a real alert joins it (or a rollback was asked for) — an earlier unready deploy is
    not what a later breach of a newer version should roll back from."""
    if not incident.alerts or decision.version in (None, incident.bad_version):
        return incident
    if incident.done("rollback") or any(a.rule != GATE_RULE for a in incident.alerts.values()):
        return incident
    return replace(incident, bad_version=None, last_good_version=None, target_basis=None)


def _with_target(incident: Incident, decision: Decision, ctx: DecisionContext) -> Incident:
    """The rollback target is settled once, from the first decision that can settle it."""
    if incident.last_good_version is not None or incident.target_basis is not None:
        return incident
    known_good = decision.last_good_version
    target = choose_target(decision.version, known_good, ctx.previous_deploy)
    if target is not None:
        return replace(incident, last_good_version=target.version, target_basis=target.basis)
    if known_good is not None and known_good == decision.version:
        return replace(incident, target_basis=IN_EFFECT)
    return incident


def on_decision(
    current: Incident | None, decision: Decision, ctx: DecisionContext, cfg: ResponseConfig
) -> Effects | None:
    join, why = should_join(current, decision, cfg)
    if is_turn(decision) and turn(current if join else None, decision) == "breach":
        # A re-armed alert breaches again: its incident was resolved by hand while it fired.
        effects = _firing(current if join else None, decision, ctx, cfg, RearmReason.BREACH)
    elif decision.state == "firing" and decision.previous != "firing":
        effects = _firing(current if join else None, decision, ctx, cfg, why.value)
    elif not join or current is None or decision.fingerprint not in current.alerts:
        return None  # includes a turn to held of an alert that belongs to no open incident
    else:
        effects = _update(current, decision, ctx, cfg)
    again = breach_after_investigation(effects.incident, ctx.now, cfg)
    return effects if again is None else effects.then(again)


def _firing(
    current: Incident | None,
    decision: Decision,
    ctx: DecisionContext,
    cfg: ResponseConfig,
    why: str,
) -> Effects:
    before = current
    after = _absorb(current or _open(decision, ctx), decision, ctx, cfg)
    note = TimelineEntry(
        "decision",
        f"{decision.severity.value} {decision.rule} firing on {decision.service}",
        reason=why,
        evidence=_evidence(decision),
    )
    events = _lifecycle_events(before, after)
    trial = (
        (TimelineEntry("status", "dry run: actions recorded as would have sent, none sent"),)
        if before is None and after.dry_run
        else ()
    )
    after, gate = _gate_note(after, ctx.unready_deploy)
    base = Effects(after, timeline=(note, *trial, *gate), events=events)
    return base.then(respond(after, decision, ctx.now, cfg))


def _gate_note(
    incident: Incident, unready: GateVerdict | None
) -> tuple[Incident, tuple[TimelineEntry, ...]]:
    """Any incident of a deploy that skipped the readiness gate says so, once."""
    if unready is None or incident.done(f"gate:{unready.version}"):
        return incident, ()
    note = TimelineEntry(
        "decision",
        f"{unready.version} was deployed while not ready",
        reason=unready.reason,
        evidence=unready.to_json(),
    )
    return incident.with_steps(f"gate:{unready.version}"), (note,)


def _lifecycle_events(before: Incident | None, after: Incident) -> tuple[EventIntent, ...]:
    if before is None:
        return (EventIntent("opened", {"severity": after.severity.value}),)
    events: list[EventIntent] = []
    if before.status == "mitigated" and after.status == "open":
        events.append(EventIntent("reopened", {"reason": "fires again after mitigation"}))
    if after.severity != before.severity or after.scenario != before.scenario:
        events.append(
            EventIntent(
                "severity_changed",
                {
                    "from": before.severity.value,
                    "to": after.severity.value,
                    "scenario": after.scenario,
                },
            )
        )
    return tuple(events)


def _update(
    current: Incident, decision: Decision, ctx: DecisionContext, cfg: ResponseConfig
) -> Effects:
    """A pending / resolved / no-data change of an alert that is part of the incident, or a
    firing alert's turn between breaching and held (``keep_firing_for``)."""
    after = replace(
        current, alerts={**current.alerts, decision.fingerprint: _alert(current, decision)}
    )
    if decision.state == "firing":
        turn = "held firing by keep_firing_for" if decision.breaching is False else "breaching"
        message = f"{decision.rule} {turn} on its latest window"
    else:
        message = {
            "resolved": f"{decision.rule} resolved",
            "no_data": f"{decision.rule}: no data — recovery cannot be confirmed",
        }.get(decision.state, f"{decision.rule} {decision.state}")
    note = TimelineEntry("decision", message, evidence=_evidence(decision))
    effects = Effects(after, timeline=(note,))
    if decision.state == "resolved" and not after.firing and not after.rollback_active:
        return effects.then(resolve(after, ctx.now, cfg, "all alerts resolved"))
    return effects


def respond(
    incident: Incident, decision: Decision | None, now: float, cfg: ResponseConfig
) -> Effects:
    """The plan's response for the incident's severity and scenario, for steps not done yet."""
    hint = decision.response if decision is not None else None
    kind, reason = response_for(incident.severity, incident.scenario, hint)
    builder = _RESPONSES[kind]
    effects = builder(incident, now, cfg, reason_text(reason, cfg))
    if decision is not None and decision.response == "restart_bot":
        effects = effects.then(_restart_bot(effects.incident, decision))
    if decision is not None and decision.response == "scale_up":
        effects = effects.then(_scale_up(effects.incident, decision))
    return effects.then(_escalation_timer(effects.incident, cfg))


def _escalation_timer(incident: Incident, cfg: ResponseConfig) -> Effects:
    due = next_escalation_at(incident, cfg)
    timers = (TimerIntent("escalation", due),) if due is not None else ()
    return Effects(incident, timers=timers)


class _Steps:
    """Collects the plan steps not done yet, once each."""

    def __init__(self, incident: Incident) -> None:
        self.incident = incident
        self.actions: list[ActionIntent] = []
        self.timeline: list[TimelineEntry] = []
        self.timers: list[TimerIntent] = []
        self.rollback: RollbackIntent | None = None

    def first(self, step: str) -> bool:
        if self.incident.done(step):
            return False
        self.incident = self.incident.with_steps(step)
        return True

    def effects(self, reason: str) -> Effects:
        if self.actions or self.rollback or self.timers:
            names = ", ".join(a.kind for a in self.actions)
            extra = " + rollback" if self.rollback else ""
            self.timeline.insert(
                0, TimelineEntry("action", f"response: {names}{extra}", reason=reason)
            )
        events = (
            (
                EventIntent(
                    "action", {"response": reason, "actions": [a.kind for a in self.actions]}
                ),
            )
            if self.actions
            else ()
        )
        return Effects(
            self.incident,
            timeline=tuple(self.timeline),
            actions=tuple(self.actions),
            timers=tuple(self.timers),
            events=events,
            rollback=self.rollback,
        )


def _notify_humans(s: _Steps, cfg: ResponseConfig, reason: str) -> None:
    inc = s.incident
    if inc.severity >= Severity.HIGH and s.first(f"page:{inc.severity.value}"):
        step = f"detection:{inc.severity.value}"
        s.actions.append(notices.page(inc, "trigger", step, inc.title, at=inc.last_decision_at))
    if s.first(f"chat:{inc.severity.value}"):
        text = f"{inc.severity.value} incident {inc.id} on {inc.service}: {inc.title} — {reason}"
        s.actions.append(notices.chat(inc, f"opened:{inc.severity.value}", text))
    _post_status_page(s, cfg)


def _post_status_page(s: _Steps, cfg: ResponseConfig) -> None:
    """Customer-facing severities go on the status page (the plan: "if customer-facing"); the
    post starts the stakeholder update cadence (``handlers.escalation``)."""
    inc = s.incident
    if inc.severity >= cfg.status_page_min_severity and s.first(
        f"status_page:{inc.severity.value}"
    ):
        body = f"We are investigating degraded service on {inc.service}."
        s.actions.append(notices.status_page(inc, "investigating", body, inc.severity.value))


def _record(inc: Incident, now: float, cfg: ResponseConfig, reason: str) -> Effects:
    s = _Steps(inc)
    if s.first("record"):
        s.timeline.append(TimelineEntry("action", "recorded; no notification", reason=reason))
    return s.effects(reason)


def _notify(inc: Incident, now: float, cfg: ResponseConfig, reason: str) -> Effects:
    s = _Steps(inc)
    if s.first("notify"):
        text = (
            f"MEDIUM incident {inc.id} on {inc.service}: {inc.title}. Decision needed: "
            f"POST /incidents/{inc.id}/decision with action rollback or dismiss"
        )
        s.actions.append(notices.chat(inc, "decision_needed", text))
    _post_status_page(s, cfg)
    return s.effects(reason)


def _page(inc: Incident, now: float, cfg: ResponseConfig, reason: str) -> Effects:
    """Wake someone, never roll back: nothing the code did (a backup overdue). Not on the
    status page either — customers see no outage."""
    s = _Steps(inc)
    if inc.severity >= Severity.HIGH and s.first(f"page:{inc.severity.value}"):
        s.actions.append(notices.page(inc, "trigger", f"detection:{inc.severity.value}", inc.title))
    if s.first(f"chat:{inc.severity.value}"):
        text = f"{inc.severity.value} incident {inc.id} on {inc.service}: {inc.title} — {reason}"
        s.actions.append(notices.chat(inc, f"opened:{inc.severity.value}", text))
    return s.effects(reason)


def _investigate(inc: Incident, now: float, cfg: ResponseConfig, reason: str) -> Effects:
    s = _Steps(inc)
    _notify_humans(s, cfg, reason)
    if s.first("investigation"):
        s.timers.append(TimerIntent("investigation", now + cfg.investigation_s))
        s.timeline.append(
            TimelineEntry(
                "timer",
                f"investigation window of {notices.duration_text(cfg.investigation_s)} started",
                reason="roll back when it ends if the condition still breaches on the latest "
                "window and nobody has taken it",
            )
        )
    return s.effects(reason)


def _rollback(inc: Incident, now: float, cfg: ResponseConfig, reason: str) -> Effects:
    s = _Steps(inc)
    _notify_humans(s, cfg, reason)
    if s.first("breaker"):  # the plan's S1 step at detection, whatever the rollback's fate
        s.actions.append(notices.breaker(s.incident, "open", inc.service))
    if s.incident.last_good_version is None and not s.incident.done("rollback"):
        effects = s.effects(reason)
        return effects.then(no_rollback_target(effects.incident, now, cfg))
    if s.first("rollback"):
        s.rollback = RollbackIntent(reason)
    return s.effects(reason)


def _restore_data(inc: Incident, now: float, cfg: ResponseConfig, reason: str) -> Effects:
    s = _Steps(replace(inc, involves_data=True))
    _notify_humans(s, cfg, reason)
    if s.first("bots_stopped"):
        s.actions.append(notices.bot_action(s.incident, "stop"))
    if s.first("isolate"):
        s.actions.append(notices.breaker(s.incident, "open", f"{inc.service}/data"))
    if s.first("rollback"):
        s.rollback = RollbackIntent(reason, involves_data=True)
    return s.effects(reason)


def _emergency_stop(inc: Incident, now: float, cfg: ResponseConfig, reason: str) -> Effects:
    s = _Steps(inc)
    _notify_humans(s, cfg, reason)
    if s.first("emergency_stop"):
        s.actions.append(notices.breaker(s.incident, "open", notices.ALL_TARGETS))
    if inc.service == notices.ALL_TARGETS:
        # The cascade itself (the correlator's S4, across services) has no code to revert:
        # each failing service's own incident is S4 too and rolls that service back.
        if s.first("rollback:per_service"):
            s.timeline.append(
                TimelineEntry(
                    "rollback",
                    "no platform-wide rollback: each failing service's S4 incident rolls it back",
                    reason=reason,
                )
            )
        return s.effects(reason)
    if s.first("rollback"):
        s.rollback = RollbackIntent(
            reason, involves_data=inc.involves_data, emergency=True, capacity=cfg.reduced_capacity
        )
    return s.effects(reason)


def _restart_bot(inc: Incident, decision: Decision) -> Effects:
    s = _Steps(inc)
    bot = decision.scope.get("bot") or decision.scope.get("key") or notices.ALL_TARGETS
    if s.first(f"bot_restart:{bot}"):
        s.actions.append(notices.bot_action(inc, "restart", bot))
    return s.effects("bot crash: restart the bot, investigate")


def _scale_up(inc: Incident, decision: Decision) -> Effects:
    s = _Steps(inc)
    if s.first(f"scale_up:{decision.rule}"):
        text = f"{inc.service}: {decision.rule} — scale up or investigate ({decision.summary})"
        s.actions.append(notices.chat(inc, f"scale_up:{decision.rule}", text))
    return s.effects("resources: scale-up / investigate notice")


_RESPONSES = {
    "record": _record,
    "notify": _notify,
    "investigate": _investigate,
    "page": _page,
    "rollback": _rollback,
    "restore_data": _restore_data,
    "emergency_stop": _emergency_stop,
}
