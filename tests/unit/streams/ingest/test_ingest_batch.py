"""A request body as events: every line or element validated alone by the wire models, the
invalid ones reported with index, field and reason, the valid ones around them kept."""

from __future__ import annotations

import orjson
import pytest

from schemas.telemetry import parse_event, validate_event
from streams.ingest.batch import UNSTORABLE, BadBody, Rejected, parse_batch

GOOD = {
    "kind": "request",
    "ts": 1795626000.5,
    "service": "chat-api",
    "endpoint": "POST /api/message",
    "status": 503,
    "latency_ms": 812.5,
}


def _line(event: object) -> bytes:
    return orjson.dumps(event)


def test_json_lines_keep_the_valid_and_name_each_invalid_by_index_field_and_reason() -> None:
    body = b"\n".join(
        [
            _line(GOOD),
            _line({**GOOD, "status": "503"}),  # a number as a string: the usual mistake
            b"",  # blank lines count, and are skipped
            b"{not json",
            _line({**GOOD, "service": "search-api", "latency_ms": 12.0}),
            _line({**GOOD, "kind": "metric"}),
        ]
    )
    batch = parse_batch(body, "ndjson")
    assert [key for key, _ in batch.records] == [b"chat-api", b"search-api"]
    assert [parse_event(value).service for _, value in batch.records] == ["chat-api", "search-api"]
    assert [(r.index, r.field) for r in batch.rejected] == [(1, "status"), (3, None), (5, "kind")]
    assert (
        batch.rejected[0].reason == 'status: Input should be a valid integer, got the string "503"'
    )
    assert batch.rejected[1].reason.startswith("not valid JSON")
    assert batch.rejected[2].reason.startswith("kind: must be one of request")


@pytest.mark.parametrize(
    "event",
    [
        GOOD,  # canonical: stage 1's fast reader takes it
        {**GOOD, "extra": 1, "ts": "2026-11-25T17:00:00Z"},  # valid, not canonical: pydantic
        {**GOOD, "status": 200.0, "service": " chat-api "},
    ],
)
def test_a_valid_line_is_written_as_sent_and_stage_1_reads_the_same_event(
    event: dict[str, object],
) -> None:
    line = orjson.dumps(event)
    ((key, value),) = parse_batch(b"  " + line + b"\r\n", "ndjson").records
    assert (key, value) == (b"chat-api", line)
    assert parse_event(value) == validate_event(event)


def test_a_json_array_and_a_single_object() -> None:
    batch = parse_batch(orjson.dumps([GOOD, {**GOOD, "latency_ms": -1}]), "array")
    assert len(batch.records) == 1
    assert batch.rejected == [Rejected(1, "latency_ms", batch.rejected[0].reason)]
    assert "greater than or equal to 0" in batch.rejected[0].reason
    assert len(parse_batch(orjson.dumps(GOOD), "array").records) == 1


@pytest.mark.parametrize(("body", "says"), [(b"[1,", "not valid JSON"), (b'"x"', "got str")])
def test_a_body_that_is_no_batch_is_refused_whole(body: bytes, says: str) -> None:
    with pytest.raises(BadBody, match=says):
        parse_batch(body, "array")


def test_an_array_element_that_is_not_an_object_is_rejected_alone() -> None:
    batch = parse_batch(orjson.dumps([GOOD, 7, None]), "array")
    assert len(batch.records) == 1
    assert [(r.index, r.reason) for r in batch.rejected] == [
        (1, "event must be a JSON object, got int"),
        (2, "event must be a JSON object, got NoneType"),
    ]


def test_a_nul_character_is_refused_by_line_as_the_api_refuses_it() -> None:
    nul = {**GOOD, "endpoint": "POST /api/\u0000message"}
    batch = parse_batch(_line(GOOD) + b"\n" + _line(nul), "ndjson")
    assert len(batch.records) == 1
    assert batch.rejected == [Rejected(1, None, UNSTORABLE)]
    assert parse_batch(orjson.dumps([nul]), "array").rejected == [Rejected(0, None, UNSTORABLE)]
