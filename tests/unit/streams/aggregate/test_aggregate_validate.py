"""The fast validator accepts exactly what schemas.telemetry.validate_event accepts.

For every JSON value, ``read_event`` either returns the same reading as the pydantic path
(same values, same types, same ts) or raises the same InvalidEvent (same reason, same field);
and so does ``read_record`` for the bytes of every JSON text (msgspec's typed decoding of
requests, before that path).
The generators (tests/support/wire_values.py) start from valid events and perturb them with
the shapes where a hand-written check and pydantic could differ: numeric strings, floats with
zero fractions, booleans for numbers, whitespace, numbers at and beyond every bound (latency's
one day, depth's int64), timestamps in every unit and as text, missing and extra fields.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import streams.aggregate.validate as validate_module
from schemas.telemetry import InvalidEvent, parse_event, validate_event
from streams.aggregate.validate import Reading, decode, read_event, read_record, reading_of
from tests.support.wire_values import VALID, as_json, events, one_field_changed

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


def _outcome(function: Any, data: Any) -> tuple[str, Any]:
    try:
        reading: Reading = function(data)
    except InvalidEvent as error:
        return ("invalid", (error.reason, error.field))
    return ("valid", tuple((type(value).__name__, value) for value in reading))


def _reference(data: Any) -> Reading:
    return reading_of(validate_event(data))


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_field_changed())
@example({"kind": "resource", "ts": 1, "service": "s", "host": "h", "cpu_pct": None})
def test_fast_reader_agrees_with_pydantic_on_each_field_edge(data: dict[str, Any]) -> None:
    data = as_json(data)
    assert _outcome(read_event, data) == _outcome(_reference, data)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
@example({"kind": "request", "ts": 1.0, "service": "\x1ca\x1c", "endpoint": "e",
          "status": 200, "latency_ms": 1})  # fmt: skip
@example({"kind": "request", "ts": 1.0, "service": "a", "endpoint": "e", "status": 200.0,
          "latency_ms": True, "v": True})  # fmt: skip
def test_fast_reader_agrees_with_pydantic_on_near_valid_events(data: dict[str, Any]) -> None:
    data = as_json(data)
    assert _outcome(read_event, data) == _outcome(_reference, data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fast_reader_agrees_with_pydantic_on_any_json(data: Any) -> None:
    data = as_json(data)
    assert _outcome(read_event, data) == _outcome(_reference, data)


def _record_outcome(function: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return _outcome(function, raw)
    except orjson.JSONDecodeError:
        return ("not JSON", None)


def _reference_bytes(raw: bytes) -> Reading:
    return _reference(orjson.loads(raw))


def _texts(data: Any) -> list[bytes]:
    """The JSON texts producers send for ``data``: compact, and the standard library's."""
    return [json.dumps(data, separators=(",", ":")).encode(), json.dumps(data).encode()]


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_field_changed())
def test_record_reader_agrees_with_pydantic_on_each_field_edge(data: dict[str, Any]) -> None:
    for raw in _texts(data):
        assert _record_outcome(read_record, raw) == _record_outcome(_reference_bytes, raw)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
@example({"kind": "request", "ts": 1.0, "service": "a", "endpoint": "e", "status": 200,
          "latency_ms": 1})  # fmt: skip
@example({"ts": 1.0, "service": "a", "endpoint": "e", "status": 200, "latency_ms": 1})
def test_record_reader_agrees_with_pydantic_on_near_valid_events(data: dict[str, Any]) -> None:
    for raw in _texts(data):
        assert _record_outcome(read_record, raw) == _record_outcome(_reference_bytes, raw)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_record_reader_agrees_with_pydantic_on_any_json(data: Any) -> None:
    for raw in _texts(data):
        assert _record_outcome(read_record, raw) == _record_outcome(_reference_bytes, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"kind":"request","ts":1,"service":"a","endpoint":"e","status":200,"latency_ms":1,'
        b'"status":"503"}',  # a repeated key: the last one counts, as orjson reads it
        b'{"kind":"request","ts":1,"service":"a","endpoint":"e","status":503,"latency_ms":1,'
        b'"status":200}',
        b'{"kind":"request","ts":1,"service":"a","endpoint":"e","status":200,"latency_ms":1}x',
        b'{"kind":"request","ts":1,"service":"a\\ud800","endpoint":"e","status":200,'
        b'"latency_ms":1}',  # a lone surrogate: not JSON to either decoder
        b'{"kind":"request","ts":1,"service":"a","endpoint":"e","status":200,"latency_ms":1,'
        b'"deep":' + b"[" * 1100 + b"]" * 1100 + b"}",  # deeper than orjson reads
        b'{"kind":"request","ts":1795626000123456789,"service":"a","endpoint":"e",'
        b'"status":200,"latency_ms":1}',  # nanoseconds
    ],
)
def test_record_reader_agrees_with_pydantic_on_awkward_bytes(raw: bytes) -> None:
    assert _record_outcome(read_record, raw) == _record_outcome(_reference_bytes, raw)


def test_a_canonical_request_is_read_without_orjson_or_pydantic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def _forbidden(_: Any) -> Any:
        raise AssertionError("the slow path was taken for a canonical request")

    monkeypatch.setattr(validate_module, "validate_event", _forbidden)
    monkeypatch.setattr(validate_module.orjson, "loads", _forbidden)
    reading = read_record(orjson.dumps(VALID[0]))
    assert reading[:4] == ("request", "chat-api", "endpoint", "POST /api/message")


@pytest.mark.parametrize("data", VALID, ids=lambda d: f"{d['kind']}-{sorted(d)}")
def test_a_canonical_event_of_every_kind_is_read_without_orjson_or_pydantic(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _reference_bytes(orjson.dumps(data))

    def _forbidden(_: Any) -> Any:
        raise AssertionError(f"the slow path was taken for a canonical {data['kind']} event")

    monkeypatch.setattr(validate_module, "validate_event", _forbidden)
    monkeypatch.setattr(validate_module.orjson, "loads", _forbidden)
    assert read_record(orjson.dumps(data)) == expected


@pytest.mark.parametrize("data", VALID, ids=lambda d: f"{d['kind']}-{sorted(d)}")
def test_a_drills_event_of_every_kind_keeps_its_drill_id(data: dict[str, Any]) -> None:
    raw = orjson.dumps({**data, "drill": "drl_0a1b2c3d"})
    reading = read_record(raw)
    assert reading[8] == "drl_0a1b2c3d"
    assert reading == _reference_bytes(raw)


REQUEST, QUEUE, INTEGRITY = VALID[0], VALID[6], VALID[8]


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({**REQUEST, "status": "503"}, "status", "type"),
        ({**REQUEST, "status": True}, "status", "type"),
        ({**REQUEST, "status": 503.5}, "status", "type"),
        ({**REQUEST, "latency_ms": "812.5"}, "latency_ms", "type"),
        ({**REQUEST, "latency_ms": True}, "latency_ms", "type"),
        ({**REQUEST, "latency_ms": 1e300}, "latency_ms", "range"),
        ({**REQUEST, "latency_ms": 86_400_000.001}, "latency_ms", "range"),
        ({**REQUEST, "ts": "1795626000"}, "ts", "value"),
        ({**REQUEST, "v": True}, "v", "type"),
        ({**QUEUE, "depth": "140"}, "depth", "type"),
        ({**QUEUE, "depth": 2**63}, "depth", "range"),
        ({**INTEGRITY, "ok": 1}, "ok", "type"),
        ({**INTEGRITY, "ok": "yes"}, "ok", "type"),
    ],
)
def test_the_fast_reader_rejects_what_the_strict_model_rejects(
    data: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        read_event(data)
    assert (caught.value.field, caught.value.problem) == (field, problem)
    assert _outcome(read_event, data) == _outcome(_reference, data)


@pytest.mark.parametrize(
    ("data", "value"),
    [
        ({**REQUEST, "status": 503.0}, 503),  # JSON Schema's integer: a zero fraction is fine
        ({**QUEUE, "depth": 140.0}, 140),
        ({**REQUEST, "latency_ms": 86_400_000}, 86_400_000.0),  # exactly a day: allowed
        ({**REQUEST, "v": 1.0}, None),
    ],
)
def test_the_fast_reader_and_the_model_accept_the_same_edges(
    data: dict[str, Any], value: Any
) -> None:
    reading = read_event(data)
    assert _outcome(read_event, data) == _outcome(_reference, data)
    if value is not None:
        assert value in reading and type(value) in {type(part) for part in reading}


# Backups and restore tests are a few a minute per dataset: they have no fast reader and take
# the pydantic path by design (streams/aggregate/validate.py); every other kind must not.
_PYDANTIC_KINDS = {"backup", "restore_test"}
FAST = [data for data in VALID if data["kind"] not in _PYDANTIC_KINDS]


@pytest.mark.parametrize("data", FAST, ids=lambda d: str(d["kind"]))
def test_canonical_events_never_reach_pydantic(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast path is the point: a canonical event must not pay for pydantic.
    def _forbidden(_: Any) -> Any:
        raise AssertionError("pydantic was called for a canonical event")

    monkeypatch.setattr(validate_module, "validate_event", _forbidden)
    assert read_event(as_json(data))[0] == data["kind"]


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
