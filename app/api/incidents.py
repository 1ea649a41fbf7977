"""Incidents: list, get (with timeline, actions, rollback), acknowledge, resolve, decide,
release (from the holds on its automation).

Viewers read; operators write. The actor on the timeline is the authenticated principal. An
open incident's ``automation`` says whether a maintenance window, a global hold or a silence
holds its control actions now, and which (``handlers.holds``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from app.api.auth import Operator, Viewer
from app.api.deps import ApiDeps
from app.api.errors import ApiError, error_responses
from app.api.models import AckIn, DecisionIn, ReleaseIn, ResolveIn
from app.storage.incidents import incident_labels
from handlers.holds import Automation, holding
from handlers.incidents.commands import IncidentNotFound
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import LifecycleError
from handlers.incidents.rearm import REARMED, rearmed_alerts
from schemas.maintenance import AutomationRecord, HoldCauseRecord, HoldReleaseRecord

__all__ = ["router"]

router = APIRouter(prefix="/incidents", tags=["incidents"])

Status = Literal["open", "acknowledged", "mitigated", "resolved"]


def _deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


def _summary(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "service": incident.service,
        "severity": incident.severity.value,
        "scenario": incident.scenario,
        "status": incident.status,
        "rollback_status": incident.rollback_status,
        "acknowledged_by": incident.acknowledged_by,
        "human_decision": incident.human_decision,
        # Resolved by hand while these still fired: the next breach opens a new incident.
        "rearmed": [
            {"rule": a.rule, "scope": dict(a.scope), "state": a.state}
            for a in (rearmed_alerts(incident) if incident.done(REARMED) else [])
        ],
    }


_READ = error_responses(401, 403, 422, 429)
_WRITE = error_responses(401, 403, 404, 409, 422, 429)


@router.get("", responses=_READ)
async def list_incidents(
    request: Request,
    viewer: Viewer,
    status: Annotated[Status | None, Query(description="filter by status")] = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    deps = _deps(request)
    return await _with_automation(deps, await deps.queries.list_incidents(status, service, limit))


@router.get("/{incident_id}", responses=error_responses(401, 403, 404, 422, 429))
async def get_incident(request: Request, viewer: Viewer, incident_id: str) -> dict[str, Any]:
    deps = _deps(request)
    found = await deps.queries.get_incident(incident_id)
    if found is None:
        raise ApiError(404, f"no incident {incident_id!r}")
    [shown] = await _with_automation(deps, [found])
    return shown


async def _with_automation(deps: ApiDeps, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each open incident with what holds its automation now (resolved ones: null)."""
    if deps.holds is None or not rows:
        return rows
    now = deps.clock.now()
    automation = await deps.holds.automation(now)
    return [{**row, "automation": _automation(row, automation, now)} for row in rows]


def _automation(row: dict[str, Any], automation: Automation, now: float) -> dict[str, Any] | None:
    if row["status"] == "resolved":
        return None
    releases = [HoldReleaseRecord.model_validate(r) for r in row.get("hold_releases") or ()]
    released = frozenset(r.cause for r in releases)
    causes = holding(automation, row["service"], incident_labels(row), released, now)
    record = AutomationRecord(
        held=bool(causes),
        held_by=[HoldCauseRecord(**vars(c)) for c in causes],
        released=releases,
        dry_run=bool(row.get("dry_run")),
    )
    return record.model_dump(mode="json")


async def _command(coro: Any) -> dict[str, Any]:
    try:
        incident: Incident = await coro
    except IncidentNotFound as missing:
        raise ApiError(404, f"no incident {missing.args[0]!r}") from None
    except LifecycleError as conflict:
        raise ApiError(409, str(conflict)) from None
    return _summary(incident)


@router.post("/{incident_id}/ack", responses=_WRITE)
async def acknowledge(
    request: Request, operator: Operator, incident_id: str, body: AckIn
) -> dict[str, Any]:
    """Acknowledge; with a note it means "I have taken it": a HIGH rollback holds."""
    commands = _deps(request).commands
    return await _command(commands.acknowledge(incident_id, operator.name, body.note))


@router.post("/{incident_id}/resolve", responses=_WRITE)
async def resolve(
    request: Request, operator: Operator, incident_id: str, body: ResolveIn
) -> dict[str, Any]:
    commands = _deps(request).commands
    return await _command(commands.resolve(incident_id, operator.name, body.note))


@router.post("/{incident_id}/decision", responses=_WRITE)
async def decide(
    request: Request, operator: Operator, incident_id: str, body: DecisionIn
) -> dict[str, Any]:
    """MEDIUM incidents wait for this: ``rollback`` starts one, ``dismiss`` resolves it."""
    commands = _deps(request).commands
    return await _command(commands.decide(incident_id, body.action, operator.name, body.note))


@router.post("/{incident_id}/release", responses=_WRITE)
async def release(
    request: Request, operator: Operator, incident_id: str, body: ReleaseIn
) -> dict[str, Any]:
    """Let its automation run despite the maintenance windows, global holds and silences that
    hold it now (409 when nothing does): its held control calls go out, its rollback goes on."""
    commands = _deps(request).commands
    return await _command(commands.release(incident_id, operator.name, body.note))
