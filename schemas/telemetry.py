"""Telemetry events, wire version 1: one JSON object per Kafka message, ``kind`` selects the model.

The models are strict so that they accept exactly what the exported JSON Schemas accept
(tests/unit/schemas prove it value by value), and a message naming a wire version this build
does not know is rejected rather than half-understood. The wire format and what is refused:
docs/telemetry.md, "The wire format"; what is lenient on purpose: docs/design.md record 4.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from schemas.errors import InputError
from schemas.timestamps import EpochSeconds

__all__ = [
    "BACKUP_STATUSES",
    "BACKUP_TYPES",
    "BOT_STATUSES",
    "DEPLOY_STATUSES",
    "KINDS",
    "LOG_LEVELS",
    "MAX_DEPTH",
    "MAX_LATENCY_MS",
    "MAX_SIZE_BYTES",
    "BackupEvent",
    "BotEvent",
    "DeployEvent",
    "IntegrityEvent",
    "InvalidEvent",
    "LogEvent",
    "QueueEvent",
    "RequestEvent",
    "ResourceEvent",
    "RestoreTestEvent",
    "TelemetryEvent",
    "encode_event",
    "parse_event",
    "validate_event",
]

WIRE_VERSION = 1
# A request slower than a day is not a latency but a unit error (µs or ns sent as ms) or
# garbage, and it would still stretch its pane's sketch (1 µs to a day spans ~1,300 buckets;
# the wire form's MAX_BINS bound is the last line of defence, not the contract).
MAX_LATENCY_MS = 86_400_000
MAX_DEPTH = 2**63 - 1  # a signed 64-bit integer, what every consumer language can hold
MAX_SIZE_BYTES = MAX_DEPTH  # a backup's size: the same bound
MAX_DURATION_S = 31 * 86_400.0  # a restore test longer than a month is a unit mistake

# Exactly the characters Python's str.strip() removes (the str.isspace() set), written out so
# that the exported pattern means the same in every regex dialect (ECMA's \s differs).
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
NOT_BLANK = f"[^{_WHITESPACE}]"  # JSON Schema patterns search: "has a non-blank character"


def _integral(value: Any) -> Any:
    """JSON Schema's integer: a number with a zero fraction, never a boolean."""
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is bool:  # strict int refuses it, but Literal[1] would take True as 1
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _not_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("string_blank", "String should not be blank")
    return stripped


# Strict: no number from a string or a boolean (the JSON Schemas allow neither). Per type, not
# model-wide, so Python callers keep their ordinary constructor typing.
Integer = Annotated[int, Strict(), BeforeValidator(_integral)]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
# Bounded inside the type: bounds on an optional field's Field() never reach its JSON Schema.
ByteCount = Annotated[int, Strict(), Field(ge=0, le=MAX_SIZE_BYTES), BeforeValidator(_integral)]
Name = Annotated[
    str,
    Field(min_length=1, max_length=256, json_schema_extra={"pattern": NOT_BLANK}),
    AfterValidator(_not_blank),
]
Text = Annotated[str, Field(max_length=65_536), AfterValidator(str.strip)]
# Where a backup is kept (a URL or a path): longer than a name, never blank.
Location = Annotated[
    str,
    Field(min_length=1, max_length=2048, json_schema_extra={"pattern": NOT_BLANK}),
    AfterValidator(_not_blank),
]
Percent = Annotated[Number, Field(ge=0, le=100)]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
BotStatus = Literal["online", "offline", "crashed", "restarted", "error"]
DeployStatus = Literal["started", "succeeded", "failed", "rolled_back"]
# The plan's backup schedule: the transaction log every 10 minutes (wal), incrementals, a full
# backup every hour and an off-site copy every 6 hours.
BackupType = Literal["wal", "incremental", "full", "offsite"]
BackupStatus = Literal["succeeded", "failed"]
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)
BOT_STATUSES: tuple[BotStatus, ...] = get_args(BotStatus)
DEPLOY_STATUSES: tuple[DeployStatus, ...] = get_args(DeployStatus)
BACKUP_TYPES: tuple[BackupType, ...] = get_args(BackupType)
BACKUP_STATUSES: tuple[BackupStatus, ...] = get_args(BackupStatus)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Annotated[Literal[1], BeforeValidator(_integral)] = Field(
        default=1, description="wire version of this event"
    )
    ts: EpochSeconds = Field(description="event time")
    service: Name = Field(description="emitting service; also the Kafka message key")
    drill: Name | None = Field(
        default=None,
        description="DR drill id: the event is a drill's, kept apart from the service's real "
        "traffic (its own panes, decisions and incidents)",
    )


class RequestEvent(_Event):
    """One served request: status and latency of an endpoint."""

    kind: Literal["request"]
    endpoint: Name = Field(description='method and route, e.g. "POST /api/message"')
    status: Integer = Field(ge=100, le=599, description="HTTP status code")
    latency_ms: Number = Field(ge=0, le=MAX_LATENCY_MS, description="server-side latency")
    version: Name | None = Field(default=None, description="service version that served it")


class LogEvent(_Event):
    """One log line worth counting (error-level lines count toward error signals)."""

    kind: Literal["log"]
    level: LogLevel
    message: Text
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
    depth: Integer = Field(ge=0, le=MAX_DEPTH)


class BotEvent(_Event):
    """Status of one bot."""

    kind: Literal["bot"]
    bot_id: Name
    status: BotStatus


class IntegrityEvent(_Event):
    """Result of one data-integrity check (plan scenario S2 when it fails)."""

    kind: Literal["integrity"]
    check: Name
    ok: Annotated[bool, Strict()]
    detail: Text | None = None


class DeployEvent(_Event):
    """A deploy of a service version, and how it went."""

    kind: Literal["deploy"]
    version: Name
    status: DeployStatus


class BackupEvent(_Event):
    """One backup of a dataset, and how it went (the plan's backup schedule). ``taken_at`` is
    the moment the backup holds the data of: what a restore from it brings back; ``ts`` is
    when it was reported."""

    kind: Literal["backup"]
    dataset: Name = Field(description="what was backed up, e.g. chat_messages, bot_state")
    type: BackupType = Field(description="wal (transaction log), incremental, full or offsite")
    status: BackupStatus
    backup_id: Name = Field(description="the backup tool's id of it: what a restore asks for")
    taken_at: EpochSeconds = Field(description="the moment the backup's data is from")
    size_bytes: ByteCount | None = None
    location: Location | None = Field(default=None, description="where it is kept")


class RestoreTestEvent(_Event):
    """A test restore of one backup (the plan's weekly restore to staging, and the
    pre-deployment test restore)."""

    kind: Literal["restore_test"]
    backup_id: Name = Field(description="the backup restored")
    dataset: Name
    ok: Annotated[bool, Strict()] = Field(description="restored and verified intact")
    duration_s: Number = Field(ge=0, le=MAX_DURATION_S, description="how long the restore took")
    environment: Name = Field(description='where it was restored, e.g. "staging"')


TelemetryEvent = Annotated[
    RequestEvent
    | LogEvent
    | ResourceEvent
    | QueueEvent
    | BotEvent
    | IntegrityEvent
    | DeployEvent
    | BackupEvent
    | RestoreTestEvent,
    Field(discriminator="kind"),
]

KINDS: tuple[str, ...] = (
    "request",
    "log",
    "resource",
    "queue",
    "bot",
    "integrity",
    "deploy",
    "backup",
    "restore_test",
)

_ADAPTER: TypeAdapter[TelemetryEvent] = TypeAdapter(TelemetryEvent)


class InvalidEvent(InputError, ValueError):
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
    elif _problem(first["type"]) == "type":
        message = f"{message}, got {_json_kind(first['input'])}"
    named = re.match(r"([a-z_]+): ", message)
    if field in (None, "resource") and named:  # an event-wide check names its field first
        return InvalidEvent(message, named.group(1), _problem(first["type"]))
    reason = f"{field}: {message}" if field else message
    return InvalidEvent(reason, field, _problem(first["type"]))


def _json_kind(value: Any) -> str:
    """What a producer sent, in JSON's words (``"503"`` is the usual mistake)."""
    if isinstance(value, str):
        return f"the string {json.dumps(value[:40])}"
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return "an array" if isinstance(value, list) else "an object"


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
