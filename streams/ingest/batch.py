"""A request body as telemetry events: JSON lines or a JSON array, each item validated alone.

Validation is stage 1's own (``streams.aggregate.validate``), so an event is accepted here
exactly when stage 1 will accept it, and refused with the reason its dead letter would carry;
an invalid item never spoils its neighbours, and a valid line is written as it was sent. One
more refusal than stage 1's: text with a NUL character, which PostgreSQL cannot store once it
reaches a decision's scope (``app.api.guards``). A body that is no batch at all raises
``BadBody``; ``index`` counts blank lines too (they are skipped). Bodies and answers:
docs/telemetry.md, "Over HTTP".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from schemas.errors import InputError
from schemas.telemetry import InvalidEvent
from streams.aggregate.validate import read_event, read_record
from streams.ingest.writer import Record

__all__ = ["UNSTORABLE", "BadBody", "Batch", "BodyFormat", "Rejected", "parse_batch"]

UNSTORABLE = "text PostgreSQL cannot store: a NUL character (\\u0000)"

BodyFormat = Literal["ndjson", "array"]


class BadBody(InputError, ValueError):
    """A body that is not a batch of events at all (HTTP 400)."""


@dataclass(frozen=True)
class Rejected:
    index: int
    field: str | None
    reason: str


@dataclass
class Batch:
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def add_line(self, index: int, raw: bytes) -> None:
        try:
            reading = read_record(raw)
        except orjson.JSONDecodeError as error:
            self.rejected.append(Rejected(index, None, f"not valid JSON: {error}"))
            return
        except InvalidEvent as bad:
            self.rejected.append(Rejected(index, bad.field, bad.reason))
            return
        self._keep(index, reading[1], raw)

    def add(self, index: int, item: Any) -> None:
        try:
            reading = read_event(item)
        except InvalidEvent as bad:
            self.rejected.append(Rejected(index, bad.field, bad.reason))
            return
        self._keep(index, reading[1], orjson.dumps(item))

    def _keep(self, index: int, service: str, raw: bytes) -> None:
        if b"\\u0000" in raw:  # JSON writes a NUL in a string only as this escape
            self.rejected.append(Rejected(index, None, UNSTORABLE))
            return
        self.records.append((service.encode(), raw))


def parse_batch(body: bytes, form: BodyFormat) -> Batch:
    return _lines(body) if form == "ndjson" else _array(body)


def _lines(body: bytes) -> Batch:
    batch = Batch()
    for index, line in enumerate(body.split(b"\n")):
        raw = line.strip()
        if raw:
            batch.add_line(index, raw)
    return batch


def _array(body: bytes) -> Batch:
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadBody(f"the body is not valid JSON: {error}") from None
    if isinstance(items, dict):
        items = [items]  # one event on its own is a batch of one
    if not isinstance(items, list):
        raise BadBody(f"expected a JSON array of events, got {type(items).__name__}")
    batch = Batch()
    for index, item in enumerate(items):
        batch.add(index, item)
    return batch
