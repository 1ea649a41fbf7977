"""``create_app(deps)``: the incidents/silences/health API the lead's composition root mounts.

Bad requests get a 422 whose body names each field: ``{"error": "invalid request",
"fields": [{"field": "body.action", "message": "…"}]}``; unknown ids a 404, lifecycle
conflicts (acknowledging a resolved incident) a 409, each with a ``detail`` sentence.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api import health, incidents, silences
from app.api.deps import ApiDeps

__all__ = ["create_app"]


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    fields = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()
    ]
    return JSONResponse({"error": "invalid request", "fields": fields}, status_code=422)


def create_app(deps: ApiDeps) -> FastAPI:
    app = FastAPI(title="alertpipe responder", version="1")
    app.state.deps = deps
    app.add_exception_handler(RequestValidationError, _invalid)
    for module in (incidents, silences, health):
        app.include_router(module.router)
    return app
