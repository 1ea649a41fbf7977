"""OTLP over HTTP, for the ``ingest`` role: ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs``
with ``application/x-protobuf`` or ``application/json`` bodies (gzip or not), as OpenTelemetry
SDKs' OTLP/HTTP exporters and the Collector's ``otlphttp`` exporter send them.

What becomes what is ``streams.ingest.otlp``'s (server spans → request events, ERROR logs →
log events, CPU and memory utilization → resource events, the policy's gauges → queue and bot
events). The events are on Kafka (acks=all) before the answer, an ``Export…ServiceResponse``
in the request's encoding, whose ``partial_success`` counts what was rejected and says why.
What is not for alertpipe (client spans, INFO logs, other metrics) is ignored and counted
(``alertpipe_ingest_producer_ignored_total``). Errors are the API's one error body (JSON)
with the status OTLP clients act on: 400 (not retried), 429 with ``Retry-After`` (retried).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.auth import Principal
from app.api.body import media_type, read_body
from app.api.errors import ApiError, error_responses
from app.api.ingest import Ingester, intake, write
from streams.ingest.batch import BadBody
from streams.ingest.otlp import Encoding, Signal, decode, response, translate

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["ingest"])

OTLP_TYPES: dict[str, Encoding] = {
    "application/x-protobuf": "protobuf",
    "application/json": "json",
}


_MESSAGES = {Signal.TRACES: "Trace", Signal.METRICS: "Metrics", Signal.LOGS: "Logs"}


def _doc(signal: Signal) -> dict[str, Any]:
    request = f"Export{_MESSAGES[signal]}ServiceRequest"
    answer = f"Export{_MESSAGES[signal]}ServiceResponse"
    return {
        "requestBody": {
            "required": True,
            "description": f"an OTLP {request}; `Content-Encoding: gzip` is taken",
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
        "responses": {
            "200": {
                "description": f"an OTLP {answer} (`partial_success` when some were rejected)",
                "content": {
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        },
    }


async def _export(request: Request, principal: Principal, signal: Signal) -> Response:
    found = intake(request)
    encoding = media_type(request, OTLP_TYPES)
    body = await read_body(request, found.max_body_bytes)
    try:
        message = decode(signal, body, encoding)
    except BadBody as bad:
        raise ApiError(400, str(bad)) from None
    translation = translate(signal, message, found.otlp)
    source = f"otlp_{signal}"
    found.stats.rejected[source] += translation.rejected
    found.stats.ignored.update(translation.ignored)
    await write(found, found.telemetry_topic, translation.records, principal, source)
    content, content_type = response(signal, translation, encoding)
    return Response(content, media_type=content_type)


_ERRORS = error_responses(400, 401, 403, 413, 415, 429)


@router.post("/traces", responses=_ERRORS, openapi_extra=_doc(Signal.TRACES))
async def traces(request: Request, principal: Ingester) -> Response:
    """Server spans become request events."""
    return await _export(request, principal, Signal.TRACES)


@router.post("/metrics", responses=_ERRORS, openapi_extra=_doc(Signal.METRICS))
async def metrics(request: Request, principal: Ingester) -> Response:
    """CPU and memory utilization, and the policy's queue and bot gauges, become events."""
    return await _export(request, principal, Signal.METRICS)


@router.post("/logs", responses=_ERRORS, openapi_extra=_doc(Signal.LOGS))
async def logs(request: Request, principal: Ingester) -> Response:
    """Log records at ERROR and above become log events."""
    return await _export(request, principal, Signal.LOGS)
