"""Dead letters: a rejected message, byte for byte, with why and where it came from.

Format (documented for operators and replay tools): the dead-letter message has the
**original key and value bytes unchanged** (so it can be re-produced as it was) and the
original headers, followed by these headers (UTF-8 text):

================== =============================================================
``dlq.code``       metric label: ``not_json``, ``invalid:<field>``, ``future_ts``, ``late``
``dlq.reason``     human-readable reason naming the field, e.g. ``status: Input should be
                   less than or equal to 599``
``dlq.field``      the offending field, empty when the message as a whole is wrong
``dlq.topic``      source topic
``dlq.partition``  source partition
``dlq.offset``     source offset
``dlq.timestamp``  source message timestamp (epoch ms)
``dlq.stage``      ``aggregate``
================== =============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DeadLetter", "Record", "dead_letter", "invalid_code"]

NOT_JSON = "not_json"
FUTURE = "future_ts"
LATE = "late"


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


def invalid_code(reason: str, field: str | None) -> str:
    """Bounded metric label: the field for schema errors (JSON errors carry positions)."""
    if reason.startswith("not valid JSON"):
        return NOT_JSON
    return f"invalid:{field or 'event'}"


def dead_letter(
    record: Record, topic: str, partition: int, code: str, reason: str, field: str | None
) -> DeadLetter:
    provenance = {
        "dlq.code": code,
        "dlq.reason": reason,
        "dlq.field": field or "",
        "dlq.topic": topic,
        "dlq.partition": str(partition),
        "dlq.offset": str(record.offset),
        "dlq.timestamp": str(record.timestamp),
        "dlq.stage": "aggregate",
    }
    headers = [*record.headers, *((k, v.encode()) for k, v in provenance.items())]
    return DeadLetter(record.key, record.value, headers, code)
