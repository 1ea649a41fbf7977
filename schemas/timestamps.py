"""Event time on the wire: RFC 3339 text or a number of seconds since the epoch.

Numbers are read by magnitude so that milliseconds (and micro/nanoseconds) are recognised and
converted, never misread as seconds: a seconds value of 1e11 would be the year 5138, so
anything at or above it cannot be seconds. Internally every time is a float of epoch seconds, UTC.

What is accepted is exactly what the exported JSON Schema (``TIMESTAMP_SCHEMA``) accepts, so
``RFC3339_PATTERN`` also encodes the calendar (month lengths, leap years): most validators,
Python's ``jsonschema`` among them, treat ``format`` as a mere annotation. A numeric string
(``"1795626000"``) is neither text nor number, and is rejected (docs/telemetry.md).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic.config import JsonDict

__all__ = [
    "MAX_EPOCH_NUMBER",
    "MAX_EPOCH_S",
    "RFC3339_PATTERN",
    "TIMESTAMP_SCHEMA",
    "EpochSeconds",
    "Instant",
    "parse_timestamp",
    "to_rfc3339",
]

_MS_FROM = 1e11
_US_FROM = 1e14
_NS_FROM = 1e17
MAX_EPOCH_S = 253_402_300_800.0  # 10000-01-01T00:00:00Z: the end of RFC 3339's range
# The first number that is too late even read as nanoseconds. An exact integer, compared with
# the raw value (Python compares int and float exactly, and so do JSON Schema validators), so
# model and schema draw the line at the same number; value / 1e9 could round across it.
MAX_EPOCH_NUMBER = 253_402_300_800 * 10**9

# RFC 3339 date-time, calendar included. Years 0001-9999 (Python has no year 0); seconds 00-59
# (Python has no leap second); 'T'/'Z' in either case, no space. [0-9], not \d (Unicode digits
# in Python), and (?![\s\S]) as the end, not $ (which Python lets match before a final \n),
# so that Python's re, ECMA-262 (ajv) and Rust read the pattern alike.
_DAY_OF_MONTH = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
RFC3339_PATTERN = (
    rf"^(?!0000)(?:[0-9]{{4}}-{_DAY_OF_MONTH}|{_LEAP_YEAR}-02-29)"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])(?![\s\S])"
)
_RFC3339 = re.compile(RFC3339_PATTERN)
# Only to word the reason of a rejection:
_NUMERIC_TEXT = re.compile(r"\s*[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?\s*")
_NO_OFFSET = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.]+")


def _from_number(value: float) -> float:
    # Comparisons, not math.isfinite: they are exact for ints of any size (no OverflowError),
    # and NaN fails them all.
    if not 0 <= value < math.inf:
        raise ValueError("timestamp must be a finite, non-negative number of epoch seconds or ms")
    if value >= MAX_EPOCH_NUMBER:
        raise ValueError("timestamp is after the year 9999 even read as nanoseconds")
    if value >= _NS_FROM:
        seconds = value / 1e9
    elif value >= _US_FROM:
        seconds = value / 1e6
    elif value >= _MS_FROM:
        seconds = value / 1e3
    else:
        return float(value)
    return seconds


def _from_text(text: str) -> float:
    if not _RFC3339.match(text):
        raise ValueError(_text_problem(text))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text).timestamp()  # the pattern admits only real dates


def _text_problem(text: str) -> str:
    if _NUMERIC_TEXT.fullmatch(text):
        return "epoch time must be a JSON number, not a string (or send RFC 3339 text)"
    if _NO_OFFSET.fullmatch(text):
        return "RFC 3339 timestamp needs a UTC offset (Z or ±hh:mm)"
    return (
        "timestamp must be RFC 3339 (e.g. 2026-11-25T17:00:00Z: a real date, 'T' between "
        "date and time, an offset) or a JSON number of epoch seconds/ms"
    )


def parse_timestamp(value: Any) -> float:
    """Epoch seconds from RFC 3339 text, epoch seconds, or epoch ms/µs/ns."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be RFC 3339 text or a number, not a boolean")
    if isinstance(value, int | float):
        return _from_number(value)
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


TIMESTAMP_SCHEMA: JsonDict = {
    "anyOf": [
        {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN},
        {"type": "number", "minimum": 0, "exclusiveMaximum": MAX_EPOCH_NUMBER},
    ],
    "description": (
        "RFC 3339 with offset, or epoch seconds as a JSON number; values >= 1e11 are read as "
        "epoch milliseconds (>= 1e14 microseconds, >= 1e17 nanoseconds)"
    ),
}

EpochSeconds = Annotated[float, BeforeValidator(parse_timestamp), WithJsonSchema(TIMESTAMP_SCHEMA)]


def _representable(value: datetime) -> datetime:
    """A moment alertpipe can compute with, store and show: in UTC from 1970 to 9998 (an
    offset can push ``9999-12-31T23:59:59`` into the year 10000, and year 1 into year 0)."""
    try:
        year = datetime.fromtimestamp(value.timestamp(), UTC).year
    except (OverflowError, ValueError, OSError):
        year = 0
    if not 1970 <= year <= 9998:
        raise ValueError("expected a moment from 1970 to 9998 (UTC)")
    return value


# A moment an API request names (a silence's or a maintenance window's start and end).
Instant = Annotated[datetime, AfterValidator(_representable)]
