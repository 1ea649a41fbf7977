"""The incident board (``GET /api/board``): open incidents first, worst first, each with its
age and the escalation ladder's next step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from handlers.config import ResponseConfig
from handlers.escalation import Step, next_escalation
from handlers.incidents.incident import Incident
from schemas.severity import Severity
from schemas.timestamps import to_rfc3339

__all__ = ["board_rows"]


def _contact(step: Step, cfg: ResponseConfig) -> str:
    contacts = {
        Step.LEAD_ENGINEER: cfg.lead_engineer,
        Step.TEAM_LEAD: cfg.team_lead,
        Step.FINAL_CONTACT: cfg.final_contact,
    }
    return contacts.get(step, "automatic rollback")


def _next_step(incident: Incident, now: float, cfg: ResponseConfig) -> dict[str, Any] | None:
    due = next_escalation(incident, cfg)
    if due is None:
        return None
    return {
        "step": due.step.value,
        "to": _contact(due.step, cfg),
        "at": to_rfc3339(due.at),
        "in_s": round(due.at - now, 1),
    }


def _row(incident: Incident, now: float, cfg: ResponseConfig) -> dict[str, Any]:
    end = incident.resolved_at if incident.resolved_at is not None else now
    return {
        "id": incident.id,
        "title": incident.title,
        "service": incident.service,
        "severity": incident.severity.value,
        "scenario": incident.scenario,
        "status": incident.status,
        "opened_at": to_rfc3339(incident.opened_at),
        "age_s": round(end - incident.opened_at, 1),
        "acknowledged_by": incident.acknowledged_by,
        "rollback_status": incident.rollback_status,
        "human_decision": incident.human_decision,
        "next_step": _next_step(incident, now, cfg),
        "drill": incident.drill,  # a DR drill's incident: the board marks it
        "review": _review(incident),
    }


def _review(incident: Incident) -> str | None:
    """Where its post-incident review is (drafted at resolution, for the plan's "rollback or
    major incident"): a rollback, or HIGH and above."""
    major = incident.severity.rank >= Severity.HIGH.rank or incident.rollback_status is not None
    if incident.status != "resolved" or not major:
        return None
    return f"/incidents/{incident.id}/review"


def board_rows(
    incidents: Iterable[Incident], now: float, cfg: ResponseConfig
) -> list[dict[str, Any]]:
    """Not resolved before resolved; then the most severe; then the most recent."""
    ordered = sorted(
        incidents,
        key=lambda i: (i.status == "resolved", -i.severity.rank, -i.opened_at),
    )
    return [_row(incident, now, cfg) for incident in ordered]
