"""Dead letters: a rejected message, byte for byte, with why and where it came from.

The original key, value and headers are kept unchanged, so a dead letter can be re-produced
as it was; the ``dlq.*`` headers added to them are a format operators and replay tools rely
on, documented in docs/telemetry.md, "Validation and dead letters".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["MAX_VALUE_BYTES", "DeadLetter", "Record", "dead_letter", "invalid_code"]

NOT_JSON = "not_json"
FUTURE = "future_ts"
LATE = "late"
UNPROCESSABLE = "unprocessable"  # valid-looking, yet aggregation raised: kept, never a crash
# A dead letter carries the original bytes — up to this many. A message that big was accepted
# by the ingest topic, but with the provenance headers it may not fit the dead-letter topic
# (Kafka's default limit is 1 MiB): the value is cut and `dlq.truncated` gives the real size.
MAX_VALUE_BYTES = 900_000


class Record(Protocol):
    """The part of a consumed Kafka record the stage reads (aiokafka's ConsumerRecord fits)."""

    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    code: str


def invalid_code(reason: str, field: str | None, problem: str | None = None) -> str:
    """Bounded metric label: ``invalid:<field>:<missing|type|range|value>`` for schema errors
    (JSON errors carry positions, so they are one label)."""
    if reason.startswith("not valid JSON"):
        return NOT_JSON
    code = f"invalid:{field or 'event'}"
    return f"{code}:{problem}" if problem else code


def dead_letter(
    record: Record, topic: str, partition: int, code: str, reason: str, field: str | None
) -> DeadLetter:
    # One list literal, not a dict and a generator: with 10% bad input this runs for every
    # tenth event, and the generator's frames were most of its cost.
    headers = [
        *record.headers,
        ("dlq.code", code.encode()),
        ("dlq.reason", reason.encode()),
        ("dlq.field", field.encode() if field else b""),
        ("dlq.topic", topic.encode()),
        ("dlq.partition", str(partition).encode()),
        ("dlq.offset", str(record.offset).encode()),
        ("dlq.timestamp", str(record.timestamp).encode()),
        ("dlq.stage", b"aggregate"),
    ]
    value = record.value
    if value is not None and len(value) > MAX_VALUE_BYTES:
        headers.append(("dlq.truncated", str(len(value)).encode()))
        value = value[:MAX_VALUE_BYTES]
    return DeadLetter(record.key, value, headers, code)
