"""Health and metrics of every role running in this process.

``GET /health`` answers 200 when every role is ready and 503 otherwise, with each role's own
report — a readiness probe for load balancers and orchestrators; it needs no credential.
While Kafka or PostgreSQL does not answer, ``waiting_for`` names it (the watches ``kafka`` and
``postgres`` and every role that needs it say so too: ``streams.supervise``).
``GET /metrics`` renders the process's metrics in the Prometheus text format
(``app.api.metrics``); it is open unless ``ALERTPIPE_AUTH__METRICS_TOKEN`` is set.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.auth import Bearer, Cookie, authenticator, require
from app.api.errors import error_responses
from app.api.metrics import Exposition, HealthReport, counter

__all__ = ["HealthReport", "metrics_access", "router"]

router = APIRouter(tags=["health"])


def _report(request: Request) -> dict[str, dict[str, Any]]:
    report: HealthReport = request.app.state.health
    return report()


# The readiness probe's "not ready" answer: the same body, each role's report saying which.
_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "some role is not ready: `status` is `degraded`, `roles` says which",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.get("/health", responses=_NOT_READY)
async def health(request: Request, response: Response) -> dict[str, Any]:
    roles = _report(request)
    ok = all(report.get("ready", True) for report in roles.values())
    response.status_code = 200 if ok else 503
    waiting = sorted({name for report in roles.values() for name in report.get("waiting_for", ())})
    return {"status": "ok" if ok else "degraded", "waiting_for": waiting, "roles": roles}


async def metrics_access(request: Request, bearer: Bearer, cookie: Cookie) -> None:
    """Open unless ``ALERTPIPE_AUTH__METRICS_TOKEN`` is set; then that token, or a viewer."""
    auth = authenticator(request)
    if auth.cfg.metrics_token is None:
        return
    if auth.metrics_token_matches(bearer.credentials if bearer else None):
        return
    await require("viewer")(request, bearer, cookie)


@router.get(
    "/metrics",
    dependencies=[Depends(metrics_access)],
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
        **error_responses(401, 403, 429),
    },
)
async def metrics(request: Request) -> Response:
    exposition: Exposition = request.app.state.exposition
    failures = authenticator(request).failures
    auth = counter(
        "alertpipe_auth_failures",
        "refused API requests by reason: bad_token, revoked_token, bad_session, csrf, "
        "forbidden, throttled, untrusted_proxy",
        ("reason",),
        {(reason,): n for reason, n in failures.items()},
    )
    return Response(await exposition.render([auth]), media_type=CONTENT_TYPE_LATEST)
