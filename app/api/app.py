"""``create_app(deps)``: the incidents/silences/health API; ``create_probe_app(health)``:
health and metrics only, for processes that run no responder (an aggregator, an evaluator).

Bad requests get a 422 whose body names each field: ``{"error": "invalid request",
"fields": [{"field": "body.action", "message": "…"}]}``; unknown ids a 404, lifecycle
conflicts (acknowledging a resolved incident) a 409, each with a ``detail`` sentence.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api import health, incidents, silences, slos
from app.api.deps import ApiDeps
from app.api.health import HealthReport

__all__ = ["create_app", "create_probe_app"]


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    fields = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in error.errors()
    ]
    return JSONResponse({"error": "invalid request", "fields": fields}, status_code=422)


def create_probe_app(report: HealthReport) -> FastAPI:
    app = FastAPI(title="alertpipe", version="1")
    app.state.health = report
    app.include_router(health.router)
    return app


def create_app(deps: ApiDeps) -> FastAPI:
    app = create_probe_app(deps.health)
    app.title = "alertpipe responder"
    app.state.deps = deps
    app.add_exception_handler(RequestValidationError, _invalid)
    for module in (incidents, silences, slos):
        app.include_router(module.router)
    return app
