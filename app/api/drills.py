"""DR drills: start, list (with the plan's monthly schedule), show with the report (JSON or
Markdown), abort, debrief. Viewers read; operators start, abort and debrief."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.api.auth import Operator, Viewer
from app.api.errors import ApiError, error_responses
from app.api.models import DebriefIn, DrillIn
from app.drills.control import DrillControl
from app.drills.store import DrillNotFound

__all__ = ["router"]

router = APIRouter(prefix="/drills", tags=["drills"])

Format = Literal["json", "markdown"]


def _drills(request: Request) -> DrillControl:
    control: DrillControl | None = request.app.state.deps.drills
    if control is None:
        raise ApiError(404, "drills are not served by this process")
    return control


async def _found(coro: Any) -> Any:
    try:
        return await coro
    except DrillNotFound as missing:
        raise ApiError(404, f"no drill {missing.args[0]!r}") from None


@router.post("", status_code=201, responses=error_responses(401, 403, 404, 422, 429))
async def start(request: Request, operator: Operator, body: DrillIn) -> dict[str, Any]:
    """Start a drill: the runner announces it on chat, then plays the scenario's traffic."""
    return await _drills(request).start(body.scenario, body.service, body.live, operator.name)


@router.get("", responses=error_responses(401, 403, 404, 422, 429))
async def list_drills(
    request: Request, viewer: Viewer, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    control = _drills(request)
    drills = await control.store.recent(limit)
    for drill in drills:
        drill.pop("report", None)
    return {"schedule": await control.schedule(), "drills": drills}


@router.get("/{drill_id}", responses=error_responses(401, 403, 404, 422, 429))
async def show(
    request: Request,
    viewer: Viewer,
    drill_id: str,
    format: Annotated[Format, Query(description="json, or markdown for the report")] = "json",
) -> Response:
    control = _drills(request)
    if format == "markdown":
        return PlainTextResponse(
            await _found(control.markdown(drill_id)), media_type="text/markdown"
        )
    return JSONResponse(jsonable_encoder(await _found(control.show(drill_id))))


@router.post("/{drill_id}/abort", responses=error_responses(401, 403, 404, 422, 429))
async def abort(request: Request, operator: Operator, drill_id: str) -> dict[str, Any]:
    """Stop the traffic, end the drill's rollbacks, close its incidents; says what it did."""
    result: dict[str, Any] = await _found(_drills(request).abort(drill_id, operator.name))
    return result


@router.patch("/{drill_id}/debrief", responses=error_responses(401, 403, 404, 422, 429))
async def debrief(
    request: Request, operator: Operator, drill_id: str, body: DebriefIn
) -> dict[str, Any]:
    """Fill the debrief (lessons …); every edit is kept with who made it."""
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise ApiError(422, "nothing to change: give lessons, went_well, went_wrong or actions")
    drill = await _found(_drills(request).debrief(drill_id, fields, operator.name))
    return {"drill": drill_id, "debrief": drill["debrief"]}
