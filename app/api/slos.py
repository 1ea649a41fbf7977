"""Error budgets: ``GET /slos`` — the budget left per SLO and scope, as stage 2 last reported."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api.auth import Viewer
from app.api.deps import ApiDeps
from app.api.errors import error_responses

__all__ = ["router"]

router = APIRouter(prefix="/slos", tags=["slos"])

Name = Annotated[str | None, Query(max_length=200)]


def _deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


@router.get("", responses=error_responses(401, 403, 422, 429))
async def list_budgets(
    request: Request,
    viewer: Viewer,
    slo: Annotated[str | None, Query(max_length=100, description="one SLO by name")] = None,
    service: Name = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Each SLO's error budget per scope, the most spent first: ``budget_remaining`` is 1
    untouched, 0 spent, below 0 overspent (null before any request); ``burn_rates`` the rate
    of spending over each alert window (1 = exactly as the objective allows)."""
    return await _deps(request).queries.list_slo_budgets(slo, service, limit)
