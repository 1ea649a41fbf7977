"""The plan's notices and control actions for one incident, with their idempotency keys.

Each builder names the plan step it belongs to; the key is derived from the incident and that
step, so the same step recorded twice is still one effect. Payloads are receiver-neutral
(``event``, ``text``, ``status``, ``action`` …); each receiver turns them into its wire form.
"""

from __future__ import annotations

from typing import Any, Protocol

from handlers.incidents.effects import ActionIntent, action_key
from handlers.incidents.incident import AlertEntry, Incident
from schemas.paging import PAGE_TIERS, PageTier
from schemas.severity import Severity

__all__ = [
    "ALL_TARGETS",
    "RestoredBackup",
    "bot_action",
    "breaker",
    "chat",
    "duration_text",
    "labels",
    "page",
    "paged_tiers",
    "pager_fallback",
    "restore_call",
    "rollback_call",
    "status_page",
    "tier_of",
]

ALL_TARGETS = "*"  # breaker target meaning "every breaker" (the S4 emergency stop)


def duration_text(seconds: float) -> str:
    """A configured duration as people read it: 120 -> "2 min", 90 -> "90 s", 5400 ->
    "1 h 30 min"."""
    if seconds < 120 and seconds != 60:
        return f"{seconds:g} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:g} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours:g} h" + (f" {rest:g} min" if rest else "")


_IMPACT = {
    Severity.CRITICAL: ("critical", "major_outage"),
    Severity.HIGH: ("major", "partial_outage"),
    Severity.MEDIUM: ("minor", "degraded_performance"),
    Severity.LOW: ("none", "operational"),
}


def _worst(incident: Incident) -> AlertEntry | None:
    alerts = sorted(incident.alerts.values(), key=lambda a: (-a.severity.rank, a.at))
    return alerts[0] if alerts else None


def labels(incident: Incident) -> dict[str, str]:
    """What silences match on: service, severity, scenario, the worst alert's rule and scope."""
    found: dict[str, str] = {"service": incident.service, "severity": incident.severity.value}
    if incident.scenario:
        found["scenario"] = incident.scenario
    if incident.drill:
        found["drill"] = incident.drill
    worst = _worst(incident)
    if worst is not None:
        found = {**worst.scope, **found, "rule": worst.rule}
    return found


def _common(incident: Incident) -> dict[str, Any]:
    common = {
        "incident_id": incident.id,
        "service": incident.service,
        "severity": incident.severity.value,
        "scenario": incident.scenario,
        "title": incident.title,
    }
    # A drill's effects say so: the delivery routes them to the drill's receivers
    # (handlers.receivers.drill), which add the header and the "[DRILL]" mark.
    return common if incident.drill is None else {**common, "drill": incident.drill}


def _intent(
    incident: Incident, kind: Any, key: str, payload: dict[str, Any], **kw: Any
) -> ActionIntent:
    return ActionIntent(
        kind=kind,
        key=key,
        payload={**_common(incident), **payload},
        severity=incident.severity,
        labels=labels(incident),
        **kw,
    )


def tier_of(step: str) -> PageTier:
    """The paging tier an escalation step pages (``lead_engineer`` …), else on-call."""
    return next((tier for tier in PAGE_TIERS if tier == step), "on_call")


def paged_tiers(incident: Incident) -> list[PageTier]:
    """The tiers paged so far (each is its own pager alert, to acknowledge and resolve)."""
    steps = incident.steps
    paged = {
        "on_call": any(s.startswith("page:") for s in steps),
        "lead_engineer": "escalation:lead_engineer" in steps,
        "team_lead": "escalation:team_lead" in steps,
        "final_contact": bool({"escalation:final_contact", "escalation:rollback_failed"} & steps),
    }
    return [tier for tier in PAGE_TIERS if paged[tier]]


def _evidence(incident: Incident) -> dict[str, Any]:
    """What a page shows of why: the worst alert's rule, scope and evidence, and versions."""
    worst = _worst(incident)
    found: dict[str, Any] = {
        "version": incident.bad_version,
        "last_good_version": incident.last_good_version,
    }
    if worst is not None:
        found |= {"rule": worst.rule, "scope": dict(worst.scope), "evidence": dict(worst.evidence)}
    return found


def page(
    incident: Incident,
    event: str,
    step: str,
    summary: str,
    contact: str | None = None,
    *,
    tier: PageTier = "on_call",
    at: float | None = None,
) -> ActionIntent:
    """A pager event (trigger / acknowledge / resolve) for one paging tier: each tier is its
    own pager alert (``handlers.receivers.pager``); ``at`` is when the trigger was detected."""
    payload = {"event": event, "summary": summary, "contact": contact, "tier": tier, "at": at}
    if event == "trigger":
        payload |= _evidence(incident)
    # One key per tier: a step that does not name its tier (acknowledge, resolve) gets it added.
    named = tier == "on_call" or tier in step.split(":")
    key = action_key(incident.id, "page", event, step, *(() if named else (tier,)))
    return _intent(incident, "page", key, payload, closing=event != "trigger")


def chat(incident: Incident, topic: str, text: str, seq: int | str = "") -> ActionIntent:
    parts = ("chat", topic, str(seq)) if seq != "" else ("chat", topic)
    return _intent(
        incident, "chat", action_key(incident.id, *parts), {"topic": topic, "text": text}
    )


def status_page(incident: Incident, status: str, body: str, seq: int | str = "") -> ActionIntent:
    impact, component = _IMPACT[incident.severity]
    if status == "resolved":
        impact, component = "none", "operational"
    parts = ("status_page", status, str(seq)) if seq != "" else ("status_page", status)
    payload = {"status": status, "body": body, "impact": impact, "component_status": component}
    return _intent(incident, "status_page", action_key(incident.id, *parts), payload)


def breaker(
    incident: Incident, action: str, target: str, capacity: float | None = None
) -> ActionIntent:
    payload = {"action": action, "target": target, "capacity": capacity}
    return _intent(incident, "breaker", action_key(incident.id, "breaker", action, target), payload)


def bot_action(incident: Incident, action: str, bot: str = ALL_TARGETS) -> ActionIntent:
    key = action_key(incident.id, "bot_restart", action, bot)
    return _intent(incident, "bot_restart", key, {"action": action, "bot": bot})


def rollback_call(incident: Incident, from_version: str | None, to_version: str) -> ActionIntent:
    payload = {"action": "rollback", "from_version": from_version, "to_version": to_version}
    return _intent(
        incident, "rollback", action_key(incident.id, "rollback", "revert_code"), payload
    )


class RestoredBackup(Protocol):
    """The parts of a chosen backup a restore call names (``handlers.rollback.restore``)."""

    @property
    def dataset(self) -> str: ...
    @property
    def backup_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def taken_at(self) -> float: ...
    @property
    def location(self) -> str | None: ...


def restore_call(
    incident: Incident,
    action: str,
    before: float | None = None,
    basis: str | None = None,
    backup: RestoredBackup | None = None,
) -> ActionIntent:
    """``restore`` of one dataset from the backup chosen for it (taken before ``before``,
    epoch s, for the reason ``basis``) — without one, "the last good backup", for the receiver
    to pick — or an ``integrity_check``."""
    payload: dict[str, Any] = {
        "action": action,
        "backup": "last_good",
        "before": before,
        "before_basis": basis,
    }
    kind = "restore" if action == "restore" else "integrity_check"
    parts: tuple[str, ...] = (kind, action)
    if backup is not None:
        payload |= {
            "backup": backup.backup_id,
            "backup_id": backup.backup_id,
            "dataset": backup.dataset,
            "backup_type": backup.type,
            "taken_at": backup.taken_at,
            "location": backup.location,
        }
        parts = (*parts, backup.dataset)
    return _intent(incident, kind, action_key(incident.id, *parts), payload)


def pager_fallback(incident: Incident, event: str, text: str) -> ActionIntent:
    """Said to ``ALERTPIPE_PAGER_FALLBACK_URL`` about a failing pager (``event``: ``pager_down``
    or ``pager_back``)."""
    key = action_key(incident.id, "pager_fallback", event)
    return _intent(incident, "pager_fallback", key, {"event": event, "text": text})
