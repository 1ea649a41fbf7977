"""The fast validator accepts exactly what schemas.telemetry.validate_event accepts.

For every JSON value, ``read_event`` either returns the same reading as the pydantic path
(same values, same types, same ts) or raises the same InvalidEvent (same reason, same field).
The generator starts from valid events and perturbs them with the shapes that differ between
a hand-written check and pydantic's lax mode: numeric strings, floats with zero fractions,
booleans, whitespace that Python strips and Rust does not, out-of-range numbers, timestamps in
every unit, missing and extra fields.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import streams.aggregate.validate as validate_module
from schemas.telemetry import InvalidEvent, parse_event, validate_event
from streams.aggregate.validate import Reading, decode, read_event, reading_of

WHITESPACE = [" ", "\t", "\n", "\x1c", "\x1f", "\x85", "\xa0", "\u2000", "\u200b", "\u3000"]

unicode = st.characters(exclude_categories=["Cs"])  # lone surrogates are not valid JSON
names = st.one_of(
    st.text(unicode, min_size=1, max_size=12),
    st.builds(lambda w, s: w + s, st.sampled_from(WHITESPACE), st.text(unicode, max_size=5)),
    st.builds(lambda s, w: s + w, st.text(unicode, max_size=5), st.sampled_from(WHITESPACE)),
    st.sampled_from(["", "x" * 256, "x" * 257, " " * 3, "POST /api/message"]),
    st.integers(-3, 3),
    st.none(),
    st.booleans(),
    st.just(["a"]),
)
numbers = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 100, 100.0, 100.5, 599, 600, 1e308, -1e-300]),
    st.booleans(),
    st.sampled_from(["200", " 41.5", "NaN", "inf", "1e3", "abc", "", "-1"]),
    st.none(),
)
timestamps = st.one_of(
    st.floats(0, 2e9),
    st.integers(0, 2 * 10**9),
    st.integers(10**11, 2 * 10**12),
    st.integers(10**14, 2 * 10**15),
    st.integers(10**17, 2 * 10**18),
    st.floats(min_value=-1e20, max_value=1e20),
    st.sampled_from(
        [
            "2026-11-25T17:00:00Z",
            "2026-11-25T17:00:00.125+01:00",
            "2026-11-25T17:00:00",
            "1764090000",
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
            " error",
            "ERROR",
        ]
    ),
    st.text(unicode, max_size=6),
    st.integers(0, 2),
    st.none(),
)
texts = st.one_of(st.none(), names, st.just("y" * 65_537))

specials: st.SearchStrategy[Any] = st.sampled_from([True, False, None, "1", "", [], {}])


def around(low: float, high: float) -> st.SearchStrategy[Any]:
    """Numbers at and just beyond a range's edges, in every JSON shape pydantic coerces."""
    edges = [low, high, low - 1, high + 1, float(low), float(high), high + 0.5, low - 1e-9]
    return st.one_of(
        st.sampled_from(edges),
        st.sampled_from(edges),  # twice: edges are where hand-written checks go wrong
        st.integers(int(low) - 1, int(high) + 1),
        st.floats(low - 1, high + 1),
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
    "latency_ms": around(0, 5),
    "cpu_pct": around(0, 100),
    "mem_pct": around(0, 100),
    "depth": around(0, 3),
    "level": literals,
    "message": texts,
    "detail": texts,
    "ok": st.one_of(st.booleans(), around(0, 1), st.sampled_from(["true", "no", "yes"])),
    "ts": timestamps,
    "v": st.sampled_from([1, 1.0, True, 2, 0, False, "1", None]),
    "kind": st.sampled_from(["request", "log", "resource", "queue", "bot", "integrity"])
    | st.sampled_from(["deploy", "Request", " request", "metric"])
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
]  # fmt: skip


COMMON = ["v", "ts", "service", "kind"]


@st.composite
def events(draw: st.DrawFn) -> Any:
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


json_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=6,
)


def _as_json(data: Any) -> Any:
    """What a producer can actually send: the value after a JSON round trip."""
    return orjson.loads(orjson.dumps(data))


def _outcome(function: Any, data: Any) -> tuple[str, Any]:
    try:
        reading: Reading = function(data)
    except InvalidEvent as error:
        return ("invalid", (error.reason, error.field))
    return ("valid", tuple((type(value).__name__, value) for value in reading))


def _reference(data: Any) -> Reading:
    return reading_of(validate_event(data))


@st.composite
def one_field_changed(draw: st.DrawFn) -> Any:
    data = dict(draw(st.sampled_from(VALID)))
    name = draw(st.sampled_from([*sorted(set(data) - {"kind"}), "version", "v", "endpoint"]))
    if draw(st.integers(0, 3)) == 0:
        data.pop(name, None)
    else:
        data[name] = draw(FIELDS[name])
    return data


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_field_changed())
@example({"kind": "resource", "ts": 1, "service": "s", "host": "h", "cpu_pct": None})
def test_fast_reader_agrees_with_pydantic_on_each_field_edge(data: dict[str, Any]) -> None:
    data = _as_json(data)
    assert _outcome(read_event, data) == _outcome(_reference, data)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
@example({"kind": "request", "ts": 1.0, "service": "\x1ca\x1c", "endpoint": "e",
          "status": 200, "latency_ms": 1})  # fmt: skip
@example({"kind": "request", "ts": 1.0, "service": "a", "endpoint": "e", "status": 200.0,
          "latency_ms": True, "v": True})  # fmt: skip
def test_fast_reader_agrees_with_pydantic_on_near_valid_events(data: dict[str, Any]) -> None:
    data = _as_json(data)
    assert _outcome(read_event, data) == _outcome(_reference, data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fast_reader_agrees_with_pydantic_on_any_json(data: Any) -> None:
    data = _as_json(data)
    assert _outcome(read_event, data) == _outcome(_reference, data)


@pytest.mark.parametrize("data", VALID, ids=lambda d: str(d["kind"]))
def test_canonical_events_never_reach_pydantic(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path is the point: a canonical event must not pay for pydantic.
    def _forbidden(_: Any) -> Any:
        raise AssertionError("pydantic was called for a canonical event")

    monkeypatch.setattr(validate_module, "validate_event", _forbidden)
    assert read_event(_as_json(data))[0] == data["kind"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=30) | st.sampled_from([b"", b"{", b"[1,", b"\xff", b'{"a":NaN}']))
def test_undecodable_bytes_get_the_schemas_reason(raw: bytes) -> None:
    expected: str | None
    try:
        parse_event(raw)
    except InvalidEvent as error:
        expected = error.reason
    else:
        expected = None
    try:
        read_event(decode(raw))
    except InvalidEvent as error:
        assert error.reason == expected
    else:
        assert expected is None


def test_a_missing_value_is_invalid_json() -> None:
    with pytest.raises(InvalidEvent, match="not valid JSON"):
        decode(None)


@pytest.mark.parametrize(
    ("data", "dimension", "key"),
    [
        (VALID[0], "endpoint", "POST /api/message"),
        (VALID[2], "service", "chat-api"),
        (VALID[3], "endpoint", "GET /"),
        (VALID[4], "host", "h1"),
        (VALID[6], "queue", "q"),
        (VALID[7], "bot", "b1"),
        (VALID[8], "check", "c"),
        (VALID[9], "service", "s"),
    ],
)
def test_each_kind_lands_in_its_scope(data: dict[str, Any], dimension: str, key: str) -> None:
    reading = read_event(data)
    assert (reading[2], reading[3]) == (dimension, key)
