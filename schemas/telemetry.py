"""Telemetry events, wire version 1.

One JSON object per Kafka message, UTF-8, message key = ``service``. Extra fields are
tolerated (and dropped). ``kind`` selects the model. ``v`` is the wire version; it may be
omitted, and a message that names a version this build does not know is rejected with a
clear error rather than half-understood.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.config import JsonDict

from schemas.timestamps import EpochSeconds

__all__ = [
    "BOT_STATUSES",
    "DEPLOY_STATUSES",
    "KINDS",
    "LOG_LEVELS",
    "BotEvent",
    "DeployEvent",
    "IntegrityEvent",
    "InvalidEvent",
    "LogEvent",
    "QueueEvent",
    "RequestEvent",
    "ResourceEvent",
    "TelemetryEvent",
    "encode_event",
    "parse_event",
    "validate_event",
]

WIRE_VERSION = 1

Name = Annotated[str, Field(min_length=1, max_length=256)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
BOT_STATUSES = ("online", "offline", "crashed", "restarted", "error")
DEPLOY_STATUSES = ("started", "succeeded", "failed", "rolled_back")


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    v: Literal[1] = Field(default=1, description="wire version of this event")
    ts: EpochSeconds = Field(description="event time")
    service: Name = Field(description="emitting service; also the Kafka message key")


class RequestEvent(_Event):
    """One served request: status and latency of an endpoint."""

    kind: Literal["request"]
    endpoint: Name = Field(description='method and route, e.g. "POST /api/message"')
    status: int = Field(ge=100, le=599, description="HTTP status code")
    latency_ms: float = Field(ge=0, allow_inf_nan=False, description="server-side latency")
    version: Name | None = Field(default=None, description="service version that served it")


class LogEvent(_Event):
    """One log line worth counting (error-level lines count toward error signals)."""

    kind: Literal["log"]
    level: Literal["debug", "info", "warning", "error", "critical"]
    message: str = Field(max_length=65_536)
    endpoint: Name | None = None


_ONE_READING: JsonDict = {
    "anyOf": [
        {"required": ["cpu_pct"], "properties": {"cpu_pct": {"type": "number"}}},
        {"required": ["mem_pct"], "properties": {"mem_pct": {"type": "number"}}},
    ]
}


class ResourceEvent(_Event):
    """CPU and memory of one host; at least one of the two must be present (an agent that
    reports only CPU is still useful)."""

    model_config = ConfigDict(json_schema_extra=_ONE_READING)

    kind: Literal["resource"]
    host: Name
    cpu_pct: Percent | None = None
    mem_pct: Percent | None = None

    @model_validator(mode="after")
    def _has_a_reading(self) -> ResourceEvent:
        if self.cpu_pct is None and self.mem_pct is None:
            raise ValueError("cpu_pct: a resource event needs cpu_pct or mem_pct (or both)")
        return self


class QueueEvent(_Event):
    """Depth of one work queue."""

    kind: Literal["queue"]
    queue: Name
    depth: int = Field(ge=0)


class BotEvent(_Event):
    """Status of one bot."""

    kind: Literal["bot"]
    bot_id: Name
    status: Literal["online", "offline", "crashed", "restarted", "error"]


class IntegrityEvent(_Event):
    """Result of one data-integrity check (plan scenario S2 when it fails)."""

    kind: Literal["integrity"]
    check: Name
    ok: bool
    detail: str | None = Field(default=None, max_length=65_536)


class DeployEvent(_Event):
    """A deploy of a service version, and how it went."""

    kind: Literal["deploy"]
    version: Name
    status: Literal["started", "succeeded", "failed", "rolled_back"]


TelemetryEvent = Annotated[
    RequestEvent | LogEvent | ResourceEvent | QueueEvent | BotEvent | IntegrityEvent | DeployEvent,
    Field(discriminator="kind"),
]

KINDS: tuple[str, ...] = ("request", "log", "resource", "queue", "bot", "integrity", "deploy")

_ADAPTER: TypeAdapter[TelemetryEvent] = TypeAdapter(TelemetryEvent)


class InvalidEvent(ValueError):
    """A message that is not a valid telemetry event. ``reason`` is short and names the field."""

    def __init__(self, reason: str, field: str | None = None, problem: str = "value") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.problem = problem  # missing | type | range | value: a bounded metric label


def _problem(error_type: str) -> str:
    """A pydantic error type, folded into a few kinds (for a metric label)."""
    if error_type == "missing":
        return "missing"
    if error_type.endswith(("_type", "_parsing")) or error_type in ("model_type", "dict_type"):
        return "type"
    if error_type.startswith(("greater_than", "less_than", "too_", "finite_number")):
        return "range"
    return "value"


def _describe(error: ValidationError) -> InvalidEvent:
    first = error.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    # The discriminated union puts the kind first ("request.latency_ms"); drop it.
    if loc and loc[0] in KINDS:
        loc = loc[1:]
    field = ".".join(loc) or None
    if first["type"] == "union_tag_invalid":
        return InvalidEvent(f"kind: must be one of {', '.join(KINDS)}", "kind")
    if first["type"] == "union_tag_not_found":
        return InvalidEvent("kind: field required", "kind", "missing")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "field required"
    named = re.match(r"([a-z_]+): ", message)
    if field in (None, "resource") and named:  # an event-wide check names its field first
        return InvalidEvent(message, named.group(1), _problem(first["type"]))
    reason = f"{field}: {message}" if field else message
    return InvalidEvent(reason, field, _problem(first["type"]))


def validate_event(data: Any) -> TelemetryEvent:
    """Validate an already-decoded JSON value. Raises InvalidEvent naming the field."""
    if not isinstance(data, dict):
        raise InvalidEvent(f"event must be a JSON object, got {type(data).__name__}", None, "type")
    version = data.get("v", WIRE_VERSION)
    if version != WIRE_VERSION:
        raise InvalidEvent(f"v: unsupported wire version {version!r} (this build reads 1)", "v")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        raise _describe(error) from None


def parse_event(raw: bytes | str) -> TelemetryEvent:
    """Decode one Kafka message value. Raises InvalidEvent for bad JSON or a bad event."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"not valid JSON: {error}") from None
    return validate_event(data)


def encode_event(event: TelemetryEvent) -> bytes:
    """The wire form: compact UTF-8 JSON, ``ts`` as epoch seconds, no null fields."""
    data = event.model_dump(mode="json", exclude_none=True)
    if math.isfinite(event.ts):
        data["ts"] = round(event.ts, 6)
    return orjson.dumps(data)
