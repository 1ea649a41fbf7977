"""Incidents: list, get (with timeline, actions, rollback), acknowledge, resolve, decide.

Viewers read; operators write. The actor on the timeline is the authenticated principal.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from app.api.auth import Operator, Viewer
from app.api.deps import ApiDeps
from app.api.errors import ApiError, error_responses
from app.api.models import AckIn, DecisionIn, ResolveIn
from handlers.incidents.commands import IncidentNotFound
from handlers.incidents.incident import Incident
from handlers.incidents.lifecycle import LifecycleError

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
    return await _deps(request).queries.list_incidents(status, service, limit)


@router.get("/{incident_id}", responses=error_responses(401, 403, 404, 422, 429))
async def get_incident(request: Request, viewer: Viewer, incident_id: str) -> dict[str, Any]:
    found = await _deps(request).queries.get_incident(incident_id)
    if found is None:
        raise ApiError(404, f"no incident {incident_id!r}")
    return found


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
