"""A request body as telemetry events: JSON lines or a JSON array, each item validated alone.

    batch = parse_batch(body, "ndjson")     # or "array"
    batch.records    # (key, value) of each valid event, in the wire form (``encode_event``)
    batch.rejected   # Rejected(index, field, reason) of each invalid one

Validation is stage 1's own (``streams.aggregate.validate.read_event``: a fast reader for the
canonical shape of each kind, ``schemas.telemetry.validate_event`` for everything else), so an
event is accepted here exactly when stage 1 will accept it, and refused with the same reason
its dead letter would carry. An invalid item never spoils its neighbours. A valid line is
written as it was sent (stage 1 reads it the same way again), an array element as its JSON.
``index`` counts from 0: the line of the body (blank lines count, and are skipped), or the
array's element. A body that is no batch at all (not UTF-8 JSON lines, not a JSON array)
raises ``BadBody``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from schemas.errors import InputError
from schemas.telemetry import InvalidEvent
from streams.aggregate.validate import read_event
from streams.ingest.writer import Record

__all__ = ["BadBody", "Batch", "BodyFormat", "Rejected", "parse_batch"]

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

    def add(self, index: int, item: Any, raw: bytes | None = None) -> None:
        try:
            reading = read_event(item)
        except InvalidEvent as bad:
            self.rejected.append(Rejected(index, bad.field, bad.reason))
            return
        service = reading[1]
        self.records.append((service.encode(), raw if raw is not None else orjson.dumps(item)))


def parse_batch(body: bytes, form: BodyFormat) -> Batch:
    return _lines(body) if form == "ndjson" else _array(body)


def _lines(body: bytes) -> Batch:
    batch = Batch()
    for index, line in enumerate(body.split(b"\n")):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            batch.rejected.append(Rejected(index, None, f"not valid JSON: {error}"))
            continue
        batch.add(index, item, line.strip())
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
