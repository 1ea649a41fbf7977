"""The API against hostile input, on PostgreSQL: a body over the limit is a 413, text the
database cannot store is a 422 naming the field — never a 5xx — each in the one error body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.api.conftest import Api

JSON = {"content-type": "application/json"}
LIMIT = 1 << 20  # ALERTPIPE_HTTP_MAX_BODY_BYTES's default


def _one_error_body(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["error"] == code and isinstance(body["message"], str) and body["message"]
    assert set(body) <= {"error", "message", "fields"}
    return body


async def test_a_body_over_the_limit_is_a_413_whatever_its_framing(api: Api) -> None:
    huge = b'{"note": "' + b"x" * LIMIT + b'"}'
    declared = await api.client.post("/incidents/inc_1/resolve", content=huge, headers=JSON)
    body = _one_error_body(declared, 413, "too_large")
    assert str(LIMIT) in body["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read until the limit
        yield b'{"note": "'
        for _ in range(64):
            yield b"x" * 65536
        yield b'"}'

    chunked = await api.client.post("/silences", content=chunks(), headers=JSON)
    _one_error_body(chunked, 413, "too_large")
    just_under = '{"note": "fine"' + " " * (LIMIT - 100) + "}"  # whitespace is JSON too
    fits = await api.client.post("/incidents/inc_1/resolve", content=just_under, headers=JSON)
    assert fits.status_code == 404  # read, validated, and then no such incident


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        ("GET", "/incidents/inc%00x", {}, "path.incident_id"),
        ("GET", "/silences/sil%00", {}, "path.silence_id"),
        ("GET", "/maintenance-windows/mw%00", {}, "path.window_id"),
        ("POST", "/incidents/inc%001/ack", {"json": {}}, "path.incident_id"),
        ("GET", "/incidents", {"params": {"service": "chat\x00api"}}, "query.service"),
        ("POST", "/incidents/inc_1/resolve", {"json": {"note": "a\x00b"}}, "body.note"),
        (
            "POST",
            "/silences",
            {"json": {"matchers": [{"name": "service", "value": "\x00"}],
                      "ends_at": "2030-01-01T00:00:00Z"}},
            "body.matchers.0.value",
        ),
        (
            "POST",
            "/maintenance-windows",
            {"json": {"name": "w", "time_intervals": [{}], "comment": "\x00"}},
            "body.comment",
        ),
        ("POST", "/automation-holds", {"json": {"reason": "freeze\x00"}}, "body.reason"),
        (
            "POST",
            "/silences",
            {"content": b'{"matchers": [{"name": "service", "value": "\\ud800"}], '
                        b'"ends_at": "2030-01-01T00:00:00Z"}', "headers": JSON},
            "body.matchers.0.value",
        ),
    ],
)  # fmt: skip
async def test_text_postgresql_cannot_store_is_a_422_naming_the_field(
    api: Api, method: str, path: str, kwargs: dict[str, Any], field: str
) -> None:
    answer = await api.client.request(method, path, **kwargs)
    body = _one_error_body(answer, 422, "invalid_request")
    assert [f["field"] for f in body["fields"]] == [field]
    assert "NUL" in body["fields"][0]["message"]


async def test_an_undeclared_query_parameter_is_ignored_not_refused(api: Api) -> None:
    answer = await api.client.get("/incidents", params={"whatever": "\x00"})
    assert answer.status_code == 200 and answer.json() == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/silences", {"matchers": [{"name": "service", "value": "x"}],
                       "ends_at": "9999-12-31T23:59:59-14:00"}, "body.ends_at"),
        ("/silences", {"matchers": [{"name": "service", "value": "x"}],
                       "starts_at": "0001-01-01T00:00:00+14:00",
                       "ends_at": "2030-01-01T00:00:00Z"}, "body.starts_at"),
        ("/maintenance-windows", {"name": "w", "starts_at": "9999-12-30T00:00:00-14:00",
                                  "ends_at": "9999-12-31T23:59:59-14:00"}, "body.ends_at"),
    ],
)  # fmt: skip
async def test_a_moment_that_cannot_be_stored_or_shown_is_a_422(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    answer = await api.client.post(path, json=body)
    problem = _one_error_body(answer, 422, "invalid_request")
    assert field in [f["field"] for f in problem["fields"]]


async def test_a_body_nested_as_deep_as_json_allows_is_refused_not_crashed_on(api: Api) -> None:
    for depth in (900, 100_000):  # within the parser's limit, and far past it
        deep = "[" * depth + "]" * depth
        answer = await api.client.post("/automation-holds", content=deep, headers=JSON)
        assert answer.status_code in (400, 422), answer.text
        assert answer.json()["error"] in ("bad_request", "invalid_request")
