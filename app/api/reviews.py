"""Post-incident reviews: the draft (JSON or Markdown) and people's edits of it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.api.auth import Operator, Viewer
from app.api.errors import ApiError, error_responses
from app.api.models import ReviewPatch
from app.reviews.control import ReviewControl, ReviewMissing

__all__ = ["router"]

router = APIRouter(prefix="/incidents", tags=["reviews"])


def _reviews(request: Request) -> ReviewControl:
    control: ReviewControl | None = request.app.state.deps.reviews
    if control is None:
        raise ApiError(404, "reviews are not served by this process")
    return control


@router.get("/{incident_id}/review", responses=error_responses(401, 403, 404, 422, 429))
async def get_review(
    request: Request,
    viewer: Viewer,
    incident_id: str,
    format: Annotated[Literal["json", "markdown"], Query()] = "json",
) -> Response:
    """The post-incident review, drafted from the evidence at resolution."""
    control = _reviews(request)
    try:
        if format == "markdown":
            text = await control.markdown(incident_id)
            return PlainTextResponse(text, media_type="text/markdown")
        return JSONResponse(jsonable_encoder(await control.get(incident_id)))
    except ReviewMissing as missing:
        raise ApiError(404, str(missing.args[0])) from None


@router.patch("/{incident_id}/review", responses=error_responses(401, 403, 404, 422, 429))
async def edit_review(
    request: Request, operator: Operator, incident_id: str, body: ReviewPatch
) -> dict[str, Any]:
    """Root cause, lessons, owners and due dates; each edit is kept with its author."""
    fields = body.model_dump(exclude_none=True)
    if not fields:
        raise ApiError(422, "nothing to change: give root_cause, lessons, owners or due")
    try:
        review: dict[str, Any] = jsonable_encoder(
            await _reviews(request).edit(incident_id, fields, operator.name)
        )
    except ReviewMissing as missing:
        raise ApiError(404, str(missing.args[0])) from None
    return review
