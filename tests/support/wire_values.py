"""Hypothesis strategies for telemetry near the edges of the wire contract.

Valid events, perturbed with the shapes where a hand-written check, pydantic and a JSON
Schema validator could part ways: numeric strings, integral floats (140.0), booleans for
numbers, whitespace that one regex dialect calls blank and another does not, numbers at and
beyond each range (latency's one-day bound, depth's int64), timestamps in every unit and RFC
3339 text with impossible dates, missing and extra fields. Used by the fast reader's test
(tests/unit/streams/aggregate) and the schema-agreement test (tests/unit/schemas).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import strategies as st

from schemas.telemetry import MAX_DEPTH, MAX_LATENCY_MS
from schemas.timestamps import MAX_EPOCH_NUMBER

__all__ = ["FIELDS", "VALID", "as_json", "events", "one_field_changed"]

WHITESPACE = [" ", "\t", "\n", "\x1c", "\x1f", "\x85", "\xa0", "\u2000", "\u200b", "\u3000",
              "\ufeff", "\u180e"]  # fmt: skip

unicode = st.characters(exclude_categories=["Cs"])  # lone surrogates are not valid JSON
names = st.one_of(
    st.text(unicode, min_size=1, max_size=12),
    st.builds(lambda w, s: w + s, st.sampled_from(WHITESPACE), st.text(unicode, max_size=5)),
    st.builds(lambda s, w: s + w, st.text(unicode, max_size=5), st.sampled_from(WHITESPACE)),
    st.lists(st.sampled_from(WHITESPACE), min_size=1, max_size=3).map("".join),
    st.sampled_from(["", "x" * 256, "x" * 257, " " * 3, " " + "x" * 255, "POST /api/message"]),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
    st.just(["a"]),
)
numbers = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 100, 100.0, 100.5, 599, 600, 1e308, -1e-300]),
    st.sampled_from([140.0, 503.0, 1e300, 2.0**63, 2**63 - 1, 2**63, 2**64 - 1]),
    st.booleans(),
    st.sampled_from(["200", " 41.5", "NaN", "inf", "1e3", "abc", "", "-1", "503", "812.5"]),
    st.none(),
)


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> str:
    """Date-time text, mostly well-formed, with impossible dates and near-miss syntax."""
    year = draw(st.sampled_from([0, 1, 1900, 1970, 2000, 2024, 2026, 2100, 2400, 9999]))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 24)),
        draw(st.integers(0, 60)),
        draw(st.integers(0, 60)),
    )
    separator = draw(st.sampled_from(["T", "t", " ", "_"]))
    fraction = draw(st.sampled_from(["", ".5", ".125", ".1234567891", "."]))
    offset = draw(st.sampled_from(["Z", "z", "+01:00", "-23:59", "+24:00", "+0100", "", "Z\n"]))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
        f"{fraction}{offset}"
    )


timestamps = st.one_of(
    st.floats(0, 2e9),
    st.integers(0, 2 * 10**9),
    st.integers(10**11, 2 * 10**12),
    st.integers(10**14, 2 * 10**15),
    st.integers(10**17, 2 * 10**18),
    st.floats(min_value=-1e20, max_value=1e20),
    st.sampled_from([MAX_EPOCH_NUMBER - 1, MAX_EPOCH_NUMBER, float(MAX_EPOCH_NUMBER), 1e300]),
    rfc3339_texts(),
    st.sampled_from(
        [
            "2026-11-25T17:00:00Z",
            "2026-11-25T17:00:00.125+01:00",
            "2026-11-25T17:00:00",
            "2028-02-29T17:00:00Z",
            "2026-02-29T17:00:00Z",
            "1764090000",
            "1764090000250",
            " 1764090000.5 ",
            "nan",
            "yesterday",
            True,
            None,
            [1],
        ]
    ),
)
literals = st.one_of(
    st.sampled_from(
        [
            "debug",
            "info",
            "warning",
            "error",
            "critical",
            "online",
            "offline",
            "crashed",
            "restarted",
            "started",
            "succeeded",
            "failed",
            "rolled_back",
            "wal",
            "incremental",
            "full",
            "offsite",
            " error",
            "ERROR",
        ]
    ),
    st.text(unicode, max_size=6),
    st.integers(0, 2),
    st.none(),
)
texts = st.one_of(st.none(), names, st.just("y" * 65_537), st.just(" " + "y" * 65_535))

specials: st.SearchStrategy[Any] = st.sampled_from([True, False, None, "1", "", [], {}])


def around(low: float, high: float) -> st.SearchStrategy[Any]:
    """Numbers at and just beyond a range's edges, in every JSON shape a producer may send."""
    edges = [low, high, low - 1, high + 1, float(low), float(high), high + 0.5, low - 1e-9]
    return st.one_of(
        st.sampled_from(edges),
        st.sampled_from(edges),  # twice: edges are where hand-written checks go wrong
        st.integers(int(low) - 1, int(high) + 1),
        st.floats(float(low) - 1, float(high) + 1),
        st.sampled_from(edges).map(str),
        specials,
        numbers,
    )


FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "service": names,
    "endpoint": names,
    "host": names,
    "queue": names,
    "bot_id": names,
    "check": names,
    "version": names,
    "status": st.one_of(around(100, 599), literals),
    "latency_ms": around(0, 5) | around(MAX_LATENCY_MS - 1, MAX_LATENCY_MS),
    "cpu_pct": around(0, 100),
    "mem_pct": around(0, 100),
    "depth": around(0, 3) | around(MAX_DEPTH - 1, MAX_DEPTH),
    "level": literals,
    "message": texts,
    "detail": texts,
    "ok": st.one_of(st.booleans(), around(0, 1), st.sampled_from(["true", "no", "yes"])),
    "ts": timestamps,
    "dataset": names,
    "type": literals,
    "backup_id": names,
    "taken_at": timestamps,
    "size_bytes": around(0, 3) | around(MAX_DEPTH - 1, MAX_DEPTH),
    "location": names | st.just("s" * 2049),
    "duration_s": around(0, 5) | around(31 * 86_400 - 1, 31 * 86_400),
    "environment": names,
    "v": st.sampled_from([1, 1.0, True, 2, 0, False, "1", None]),
    "kind": st.sampled_from(["request", "log", "resource", "queue", "bot", "integrity"])
    | st.sampled_from(["deploy", "backup", "restore_test", "Request", " request", "metric"])
    | st.integers(0, 1),
}

VALID: list[dict[str, Any]] = [
    {"kind": "request", "ts": 1764090000.25, "service": "chat-api",
     "endpoint": "POST /api/message", "status": 200, "latency_ms": 41.5},
    {"kind": "request", "ts": 1764090000250, "service": "chat-api", "endpoint": "GET /",
     "status": 503, "latency_ms": 0, "version": "1.2.3"},
    {"kind": "log", "ts": 1764090000, "service": "chat-api", "level": "error", "message": ""},
    {"kind": "log", "ts": 1764090000, "service": "s", "level": "info", "message": "hi",
     "endpoint": "GET /"},
    {"kind": "resource", "ts": 1764090000, "service": "s", "host": "h1", "cpu_pct": 50},
    {"kind": "resource", "ts": 1764090000, "service": "s", "host": "h1", "mem_pct": 99.5},
    {"kind": "queue", "ts": 1764090000, "service": "s", "queue": "q", "depth": 7},
    {"kind": "bot", "ts": 1764090000, "service": "s", "bot_id": "b1", "status": "crashed"},
    {"kind": "integrity", "ts": 1764090000, "service": "s", "check": "c", "ok": False,
     "detail": "3 rows missing"},
    {"kind": "deploy", "ts": 1764090000, "service": "s", "version": "v2", "status": "started"},
    {"kind": "backup", "ts": 1764090000, "service": "s", "dataset": "chat_messages",
     "type": "wal", "status": "succeeded", "backup_id": "b1", "taken_at": 1764089990},
    {"kind": "backup", "ts": 1764090000, "service": "s", "dataset": "d", "type": "full",
     "status": "failed", "backup_id": "b2", "taken_at": 1764089990000,
     "size_bytes": 0, "location": "s3://b/b2"},
    {"kind": "restore_test", "ts": 1764090000, "service": "s", "dataset": "d",
     "backup_id": "b2", "ok": True, "duration_s": 41.5, "environment": "staging"},
]  # fmt: skip

COMMON = ["v", "ts", "service", "kind"]


@st.composite
def events(draw: st.DrawFn) -> Any:
    """A valid event with up to three fields changed or removed (and sometimes an extra)."""
    data = dict(draw(st.sampled_from(VALID)))
    # Mostly perturb the fields this kind has (that is where the edges are), sometimes any.
    own = sorted(set(data) | {"version", "endpoint", "detail", "cpu_pct", "mem_pct"} & set(FIELDS))
    fields = st.sampled_from(own + COMMON) | st.sampled_from(sorted(FIELDS))
    for name in draw(st.lists(fields, max_size=3)):
        if draw(st.integers(0, 4)) == 0:
            data.pop(name, None)
        else:
            data[name] = draw(FIELDS[name])
    if draw(st.integers(0, 9)) == 0:
        data["extra"] = draw(st.text(unicode, max_size=3))
    return data


@st.composite
def one_field_changed(draw: st.DrawFn) -> Any:
    """A valid event with exactly one of its fields changed or removed."""
    data = dict(draw(st.sampled_from(VALID)))
    name = draw(st.sampled_from([*sorted(set(data) - {"kind"}), "version", "v", "endpoint"]))
    if draw(st.integers(0, 3)) == 0:
        data.pop(name, None)
    else:
        data[name] = draw(FIELDS[name])
    return data


def as_json(data: Any) -> Any:
    """What a producer can actually send: the value after a JSON round trip. Encoded by the
    standard library (orjson refuses integers beyond 64 bits; a producer may still send
    them), decoded by orjson, as stage 1 decodes."""
    return orjson.loads(json.dumps(data))
