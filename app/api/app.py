"""``create_app(deps)``: the incidents/silences/session/tokens API; ``create_probe_app(health)``:
health and metrics only, for processes that run no ``api`` role (an aggregator, an evaluator).

Every route but ``/health`` needs a credential (``app.api.auth``; ``/metrics`` is open unless
``ALERTPIPE_AUTH__METRICS_TOKEN`` is set). Every 4xx has the one body of ``app.api.errors``:
``{"error": "<code>", "message": "…", "fields": [{"field": "body.action", "message": "…"}]}``.
The OpenAPI document (``GET /openapi.json``, for viewers) declares both security schemes and
every route's error bodies.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from app.api import (
    dashboard,
    drills,
    errors,
    health,
    incidents,
    ingest,
    maintenance,
    otlp,
    readiness,
    reviews,
    session,
    silences,
    slos,
    tokens,
)
from app.api.auth import Authenticator, Viewer, refusal_before_the_body
from app.api.dashboard import STATIC, DashboardDeps
from app.api.deps import ApiDeps
from app.api.guards import BodyLimit, declare_guarded_answers, storable_text
from app.api.ingest import INGEST_PATHS
from app.api.metrics import Exposition, HealthReport
from app.settings import AuthSettings
from schemas.clock import SystemClock

__all__ = ["create_app", "create_probe_app"]


# The operator API's routes, also served under /v1 for deploy tooling and scripts that pin a
# version (the ingest routes are /v1 only; /v1/metrics is OTLP's, so /metrics is not aliased).
_VERSIONED = (
    incidents.router,
    reviews.router,
    silences.router,
    drills.router,
    maintenance.windows_router,
    maintenance.holds_router,
)


async def _openapi(request: Request, viewer: Viewer) -> dict[str, Any]:
    document: dict[str, Any] = request.app.openapi()
    return document


def create_probe_app(
    report: HealthReport,
    auth: Authenticator | None = None,
    exposition: Exposition | None = None,
) -> FastAPI:
    # No interactive docs: they load their scripts from a CDN, and the console works offline.
    app = FastAPI(
        title="alertpipe",
        version="1",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(storable_text)],  # app.api.guards: no NUL reaches PostgreSQL
    )
    app.state.health = report
    app.state.auth = auth or Authenticator(AuthSettings(), SystemClock())
    app.state.exposition = exposition or Exposition(report)
    errors.install(app, body_gate=refusal_before_the_body)
    app.include_router(health.router)
    return app


def create_app(deps: ApiDeps, board: DashboardDeps | None = None) -> FastAPI:
    """The API; with ``board``, the dashboard too: its page at ``/`` and its files under
    ``/static`` (open: the page holds no data, and it is where one signs in), its JSON under
    ``/api`` (for viewers)."""
    app = create_probe_app(deps.health, deps.auth, deps.exposition)
    app.title = "alertpipe responder"
    app.state.deps = deps
    app.state.dashboard = board
    # The ingest routes read their bodies themselves, to their own (larger) limit, counted
    # again once decompressed: the app-wide limit is for the console's and the API's JSON.
    app.add_middleware(BodyLimit, limit=deps.max_body_bytes, exempt=INGEST_PATHS)
    routers = (incidents, reviews, silences, session, tokens, slos, dashboard, ingest, otlp, drills)
    for module in (*routers, readiness):
        app.include_router(module.router)
    app.include_router(maintenance.windows_router)
    app.include_router(maintenance.holds_router)
    for router in _VERSIONED:  # the same routes under /v1 too (design.md, record 38)
        app.include_router(router, prefix="/v1", include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    declare_guarded_answers(app)
    app.add_api_route(
        "/openapi.json",
        _openapi,
        methods=["GET"],
        include_in_schema=False,
        responses=errors.error_responses(401, 403, 429),
    )
    return app
