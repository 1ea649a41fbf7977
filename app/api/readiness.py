"""The readiness gate, for deploy tooling to call before it deploys (docs/readiness.md).

    GET  /v1/readiness/{service}?version=V          the plan's checklist and baselines (viewer)
    POST /v1/readiness/{service}/attestations       {"item": "team_trained", "note"} (operator)

The check answers 200 whether or not the service is ready (``ready`` says which, each failed
item says what would make it pass) and is recorded with who asked: a deploy of a version
that was never checked, or checked not ready, is a decision ("deployed while not ready").
The attestation's author is the authenticated principal.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import Operator, Viewer
from app.api.deps import ApiDeps, ReadinessGate
from app.api.errors import ApiError, error_responses
from schemas.timestamps import to_rfc3339

__all__ = ["AttestationIn", "router"]

router = APIRouter(prefix="/v1/readiness", tags=["readiness"])

Service = Annotated[
    str, Path(min_length=1, max_length=256, pattern=r"\S", description="the service to deploy")
]


class AttestationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: Literal["team_trained"] = Field(description="what is attested")
    note: str = Field(default="", max_length=1000, description="how, e.g. the session held")


def _gate(request: Request) -> ReadinessGate:
    deps: ApiDeps = request.app.state.deps
    if deps.readiness is None:
        raise ApiError(404, "the readiness gate is not served here")
    return deps.readiness


_UNAVAILABLE = (KafkaError, asyncpg.PostgresConnectionError, OSError)


@router.get("/{service}", responses=error_responses(401, 403, 404, 422, 429, 503))
async def check(
    request: Request,
    viewer: Viewer,
    service: Service,
    version: Annotated[
        str | None, Query(min_length=1, max_length=256, description="the version to deploy")
    ] = None,
) -> dict[str, Any]:
    """Is ``service`` ready to deploy ``version``? Each item of the plan's checklist and each
    baseline with its status (pass, fail, unknown), evidence and, when it does not pass,
    what would make it pass. Recorded, with the caller as its actor."""
    try:
        report = await _gate(request).check(service.strip(), version, viewer.name)
    except _UNAVAILABLE as error:
        raise ApiError(503, f"readiness cannot be judged now: {error}") from None
    return report.to_json()


@router.post(
    "/{service}/attestations",
    status_code=201,
    responses=error_responses(401, 403, 404, 422, 429, 503),
)
async def attest(
    request: Request, operator: Operator, service: Service, body: AttestationIn
) -> dict[str, Any]:
    """Record that the team behind ``service`` is trained on the runbook; it counts until it
    expires (``ALERTPIPE_READINESS__ATTESTATION_VALID_S``)."""
    try:
        found = await _gate(request).attest(service.strip(), body.item, operator.name, body.note)
    except _UNAVAILABLE as error:
        raise ApiError(503, f"the attestation could not be recorded: {error}") from None
    return {
        "service": service.strip(),
        "item": body.item,
        "by": found.actor,
        "at": to_rfc3339(found.at),
        "expires_at": to_rfc3339(found.expires_at),
        "note": found.note,
    }
