"""Ingest over HTTP, for the ``ingest`` role: ``POST /v1/telemetry`` (telemetry events) and
``POST /v1/alertmanager`` (Alertmanager's webhook, each alert a decision).

Every valid item is on Kafka (acks=all) before the answer, and valid items around invalid ones
are still written; Kafka being slow is a 429 with ``Retry-After`` (``streams.ingest.writer``,
docs/design.md record 32). Bodies, answers and errors: docs/telemetry.md, "Over HTTP", and
docs/policy.md, "Alertmanager's alerts".
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError

from app.api.auth import Principal, require
from app.api.body import media_type, read_body
from app.api.deps import ApiDeps, Intake
from app.api.errors import ApiError, FieldError, error_responses
from app.api.guards import unstorable
from schemas.alertmanager import AlertmanagerWebhook
from streams.ingest.alertmanager import decision_record, to_decisions
from streams.ingest.batch import UNSTORABLE, BadBody, BodyFormat, parse_batch
from streams.ingest.writer import Headers, IngestBusy, Record

__all__ = ["INGEST_PATHS", "Ingester", "Left", "TelemetryOut", "intake", "router", "write"]

# The routes that read their bodies themselves, to ``ALERTPIPE_INGEST__MAX_BODY_BYTES`` as sent
# and once decompressed: the app-wide body limit (``app.api.guards.BodyLimit``) leaves them be.
INGEST_PATHS = frozenset(
    {"/v1/telemetry", "/v1/traces", "/v1/metrics", "/v1/logs", "/v1/alertmanager"}
)

router = APIRouter(prefix="/v1", tags=["ingest"])
Ingester = Annotated[Principal, Depends(require("ingest"))]

TELEMETRY_TYPES: dict[str, BodyFormat] = {
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/json": "array",
}
_MAX_FIELDS = 100  # a 422 lists at most this many items' problems


class Left(BaseModel):
    """An item that was not written, and why."""

    index: int = Field(description="its place in the body, from 0 (the line, or the element)")
    field: str | None = Field(description="the field at fault, when one is")
    reason: str


class TelemetryOut(BaseModel):
    accepted: int = Field(description="items written to Kafka (acknowledged)")
    rejected: list[Left] = Field(description="each item left out")


class AlertsOut(BaseModel):
    accepted: int = Field(description="alerts written to the decisions topic (acknowledged)")
    skipped: list[Left] = Field(description="each alert left out (no service label)")


def _deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


def intake(request: Request) -> Intake:
    deps = _deps(request)
    if deps.intake is None:
        raise ApiError(404, "this process takes no ingest")
    return deps.intake


def _headers(principal: Principal, source: str) -> Headers:
    return [
        ("alertpipe-ingested-by", principal.name.encode()),
        ("alertpipe-source", source.encode()),
    ]


async def write(
    found: Intake, topic: str, records: list[Record], principal: Principal, source: str
) -> None:
    """Write ``records`` (acknowledged) or answer 429 with ``Retry-After``."""
    try:
        await found.writer.write(topic, records, _headers(principal, source))
    except IngestBusy as busy:
        raise ApiError(
            429,
            f"ingest is busy: {busy.reason}; retry in {busy.retry_after_s} s",
            headers={"Retry-After": str(busy.retry_after_s)},
        ) from None
    found.stats.ingested[source] += len(records)


def _nothing_valid(left: list[Left], what: str) -> ApiError:
    fields = [
        FieldError(
            field=f"body[{item.index}]" + (f".{item.field}" if item.field else ""),
            message=item.reason,
        )
        for item in left[:_MAX_FIELDS]
    ]
    return ApiError(422, f"no valid {what} in the body ({len(left)} left out)", fields=fields)


_NDJSON_BODY: dict[str, Any] = {
    "type": "string",
    "description": "one telemetry event (a JSON object) per line",
}
_ARRAY_BODY: dict[str, Any] = {
    "oneOf": [
        {"type": "array", "items": {"type": "object"}},
        {"type": "object", "description": "one event on its own"},
    ]
}
_TELEMETRY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "events as in docs/telemetry.md; `Content-Encoding: gzip` is taken",
        "content": {
            "application/x-ndjson": {"schema": _NDJSON_BODY},
            "application/jsonl": {"schema": _NDJSON_BODY},
            "application/json": {"schema": _ARRAY_BODY},
        },
    }
}


@router.post(
    "/telemetry",
    responses=error_responses(400, 401, 403, 413, 415, 422, 429),
    openapi_extra=_TELEMETRY_DOC,
)
async def telemetry(request: Request, principal: Ingester) -> TelemetryOut:
    """Telemetry events, each validated by the wire models; the valid ones are written to the
    telemetry topic (key: service) before the answer."""
    found = intake(request)
    form = media_type(request, TELEMETRY_TYPES)
    body = await read_body(request, found.max_body_bytes)
    try:
        batch = parse_batch(body, form)
    except BadBody as bad:
        raise ApiError(400, str(bad)) from None
    left = [Left(index=r.index, field=r.field, reason=r.reason) for r in batch.rejected]
    found.stats.rejected["telemetry"] += len(left)
    if left and not batch.records:
        raise _nothing_valid(left, "event")
    await write(found, found.telemetry_topic, batch.records, principal, "telemetry")
    return TelemetryOut(accepted=len(batch.records), rejected=left)


def _webhook(body: bytes) -> AlertmanagerWebhook:
    if b"\\u0000" in body:  # a label PostgreSQL cannot store would stop stage 3 at it
        with contextlib.suppress(orjson.JSONDecodeError):
            where = list(unstorable(orjson.loads(body), "body"))
            if where:
                fields = [FieldError(field=f, message=UNSTORABLE) for f in where[:_MAX_FIELDS]]
                raise ApiError(422, f"invalid request: {', '.join(where[:5])}", fields=fields)
    try:
        return AlertmanagerWebhook.model_validate_json(body)
    except ValidationError as error:
        fields = [
            FieldError(field="body." + ".".join(str(p) for p in e["loc"]), message=e["msg"])
            for e in error.errors(include_url=False)[:_MAX_FIELDS]
        ]
        names = ", ".join(dict.fromkeys(f.field for f in fields))
        message = f"not an Alertmanager webhook (version 4): {names}"
        raise ApiError(422, message, fields=fields) from None


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON Schema with its ``$defs`` written in place: in the OpenAPI document a
    ``#/$defs/…`` reference would point at the document's root, where nothing is."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = str(node.get("$ref", ""))
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


_ALERTMANAGER_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inlined(AlertmanagerWebhook.model_json_schema())}
        },
    }
}


@router.post(
    "/alertmanager",
    responses=error_responses(400, 401, 403, 413, 415, 422, 429),
    openapi_extra=_ALERTMANAGER_DOC,
)
async def alertmanager(request: Request, principal: Ingester) -> AlertsOut:
    """Alertmanager's webhook receiver: each alert becomes a decision (the policy's
    ``alertmanager`` mapping) on the decisions topic, where it joins incidents."""
    found = intake(request)
    media_type(request, {"application/json": "json"})
    webhook = _webhook(await read_body(request, found.max_body_bytes))
    now_ms = int(_deps(request).clock.now() * 1000)
    decisions, skipped = to_decisions(webhook, found.alertmanager, now_ms)
    left = [Left(index=s.index, field=s.field, reason=s.reason) for s in skipped]
    found.stats.rejected["alertmanager"] += len(left)
    if left and not decisions:
        raise _nothing_valid(left, "alert")
    records = [decision_record(d) for d in decisions]
    await write(found, found.decisions_topic, records, principal, "alertmanager")
    return AlertsOut(accepted=len(records), skipped=left)
