"""Every kind's canonical shape as a msgspec struct: a union tagged by ``kind``, decoded and
checked straight from a message's bytes (``streams.aggregate.validate.read_record`` turns the
struct into a reading).

The structs carry the canonical event's types and bounds; unknown fields are ignored, as
pydantic does; a repeated key keeps its last value, as orjson does, and a repeated ``kind``
is refused. An absent or unknown ``kind`` is refused too, and every refusal
(``NOT_CANONICAL``) takes the path of orjson, the fast readers and pydantic.

A module of its own because it is never compiled: mypyc drops the class keywords
(``tag=``, ``kw_only=``) msgspec reads, while the module that uses these structs is
compiled (docs/design.md record 47).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schemas.telemetry import (
    MAX_DEPTH,
    MAX_DURATION_S,
    MAX_LATENCY_MS,
    MAX_SIZE_BYTES,
    BackupStatus,
    BackupType,
    BotStatus,
    DeployStatus,
    LogLevel,
)

__all__ = [
    "MAX_NAME",
    "MAX_TEXT",
    "NOT_CANONICAL",
    "Backup",
    "Bot",
    "Deploy",
    "Event",
    "Integrity",
    "Log",
    "Queue",
    "Request",
    "Resource",
    "RestoreTest",
    "decode_event",
]

MAX_NAME = 256
MAX_TEXT = 65_536

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
_Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]


class Event(msgspec.Struct, tag_field="kind", kw_only=True, gc=False):
    """The fields every kind shares."""

    ts: Annotated[float, msgspec.Meta(ge=0.0)]
    service: _Name
    v: Literal[1] = 1
    # A drill's event (rare) fails here and takes the pydantic path, which keeps its id.
    drill: None = None


class Request(Event, tag="request"):
    endpoint: _Name
    status: Annotated[int, msgspec.Meta(ge=100, le=599)]
    latency_ms: Annotated[float, msgspec.Meta(ge=0.0, le=MAX_LATENCY_MS)]
    version: _Name | None = None


class Log(Event, tag="log"):
    level: LogLevel
    message: _Text
    endpoint: _Name | None = None


class Resource(Event, tag="resource"):
    host: _Name
    cpu_pct: _Percent | None = None
    mem_pct: _Percent | None = None


class Queue(Event, tag="queue"):
    queue: _Name
    depth: Annotated[int, msgspec.Meta(ge=0, le=MAX_DEPTH)]


class Bot(Event, tag="bot"):
    bot_id: _Name
    status: BotStatus


class Integrity(Event, tag="integrity"):
    check: _Name
    ok: bool
    detail: _Text | None = None


class Deploy(Event, tag="deploy"):
    version: _Name
    status: DeployStatus


class Backup(Event, tag="backup"):
    dataset: _Name
    type: BackupType
    status: BackupStatus
    backup_id: _Name
    taken_at: Annotated[float, msgspec.Meta(ge=0.0)]  # an RFC 3339 one: the slow path
    size_bytes: Annotated[int, msgspec.Meta(ge=0, le=MAX_SIZE_BYTES)] | None = None
    location: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)] | None = None


class RestoreTest(Event, tag="restore_test"):
    backup_id: _Name
    dataset: _Name
    ok: bool
    duration_s: Annotated[float, msgspec.Meta(ge=0.0, le=MAX_DURATION_S)]
    environment: _Name


decode_event = msgspec.json.Decoder(
    Request | Log | Resource | Queue | Bot | Integrity | Deploy | Backup | RestoreTest
).decode
NOT_CANONICAL = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)
