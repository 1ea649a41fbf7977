"""Health: every responder role's own report; 503 when one is not ready."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.deps import ApiDeps

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request, response: Response) -> dict[str, Any]:
    deps: ApiDeps = request.app.state.deps
    roles = deps.health()
    ok = all(report.get("ready", True) for report in roles.values())
    response.status_code = 200 if ok else 503
    return {"status": "ok" if ok else "degraded", "roles": roles}
