"""Event time on the wire: RFC 3339 text or a number of seconds since the epoch.

Numbers are read by magnitude so that milliseconds (and micro/nanoseconds) are recognised and
converted, never misread as seconds: 1.7e9 is seconds (2023), 1.7e12 milliseconds (also 2023).
A seconds value of 1e11 would be the year 5138, so anything at or above it cannot be seconds.
Internally every time is a float of epoch seconds, UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

__all__ = ["MAX_EPOCH_S", "EpochSeconds", "parse_timestamp", "to_rfc3339"]

_MS_FROM = 1e11
_US_FROM = 1e14
_NS_FROM = 1e17
MAX_EPOCH_S = 253_402_300_800.0  # 10000-01-01T00:00:00Z: the end of RFC 3339's range


def _from_number(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError("timestamp must be a finite, non-negative number of epoch seconds or ms")
    if value >= _NS_FROM:
        seconds = value / 1e9
    elif value >= _US_FROM:
        seconds = value / 1e6
    elif value >= _MS_FROM:
        seconds = value / 1e3
    else:
        return float(value)
    if seconds >= MAX_EPOCH_S:
        raise ValueError("timestamp is after the year 9999 even read as nanoseconds")
    return seconds


def _from_text(value: str) -> float:
    text = value.strip()
    try:
        return _from_number(float(text))
    except ValueError:
        pass
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "timestamp must be RFC 3339 (e.g. 2026-11-25T17:00:00Z) or epoch seconds/ms"
        ) from None
    if moment.tzinfo is None:
        raise ValueError("RFC 3339 timestamp needs a UTC offset (Z or ±hh:mm)")
    return moment.timestamp()


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from RFC 3339 text, epoch seconds, or epoch ms/µs/ns."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be RFC 3339 text or a number, not a boolean")
    if isinstance(value, int | float):
        return _from_number(float(value))
    if isinstance(value, str):
        return _from_text(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetime needs a timezone")
        return value.timestamp()
    raise ValueError("timestamp must be RFC 3339 text or a number of epoch seconds/ms")


def to_rfc3339(epoch_s: float) -> str:
    """RFC 3339 in UTC with millisecond precision, e.g. 2026-11-25T17:00:00.125Z."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


EpochSeconds = Annotated[
    float,
    BeforeValidator(parse_timestamp),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "minimum": 0},
            ],
            "description": (
                "RFC 3339 with offset, or epoch seconds; values >= 1e11 are read as epoch "
                "milliseconds (>= 1e14 microseconds, >= 1e17 nanoseconds)"
            ),
        }
    ),
]
