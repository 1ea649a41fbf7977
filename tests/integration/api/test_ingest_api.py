"""HTTP ingest on real Kafka: what is valid is on the telemetry (or decisions) topic, acks=all,
before the answer; what is not is named by index, field and reason; limits, media types and
credentials are refused in the one error body; Kafka slow is 429 with Retry-After."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from schemas.decisions import Decision
from schemas.telemetry import parse_event
from tests.support.ingest import IngestApi, ingest_api

EVENT = {
    "kind": "request",
    "ts": 1795626000.5,
    "service": "chat-api",
    "endpoint": "POST /api/message",
    "status": 503,
    "latency_ms": 812.5,
}
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
async def topics(make_topic: Callable[..., Awaitable[str]]) -> dict[str, str]:
    return {"telemetry": await make_topic("telemetry"), "decisions": await make_topic("decisions")}


@pytest.fixture
async def api(database: str, bootstrap: str, topics: dict[str, str]) -> AsyncIterator[IngestApi]:
    async with ingest_api(database, bootstrap, topics, ingest={"max_body_bytes": 4096}) as found:
        yield found


async def _records(bootstrap: str, topic: str) -> list[Any]:
    """Everything on ``topic`` now (the writes were acknowledged before the answer)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        found: list[Any] = []
        for _ in range(3):  # the first fetches may come back empty while the consumer joins
            batches = await consumer.getmany(timeout_ms=1000)
            found += [r for records in batches.values() for r in records]
        return found
    finally:
        await consumer.stop()


def _lines(*events: object) -> bytes:
    return b"\n".join(e if isinstance(e, bytes) else orjson.dumps(e) for e in events)


async def test_valid_lines_are_written_before_the_answer_and_bad_ones_named(
    api: IngestApi, bootstrap: str, topics: dict[str, str]
) -> None:
    body = _lines(EVENT, {**EVENT, "status": "503"}, b"{", {**EVENT, "service": "search-api"})
    r = await api.client.post("/v1/telemetry", content=body, headers=NDJSON)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert [(x["index"], x["field"]) for x in r.json()["rejected"]] == [(1, "status"), (2, None)]
    assert r.json()["rejected"][0]["reason"].startswith("status: Input should be a valid integer")
    records = await _records(bootstrap, topics["telemetry"])  # no waiting: acks=all came first
    assert [(rec.key, parse_event(rec.value).service) for rec in records] == [
        (b"chat-api", "chat-api"),
        (b"search-api", "search-api"),
    ]
    assert dict(records[0].headers) == {
        "alertpipe-ingested-by": b"collector",
        "alertpipe-source": b"telemetry",
    }
    assert api.writer.stats.ingested["telemetry"] == 2
    assert api.writer.stats.rejected["telemetry"] == 2


async def test_a_gzipped_json_array_is_taken(
    api: IngestApi, bootstrap: str, topics: dict[str, str]
) -> None:
    body = gzip.compress(orjson.dumps([EVENT, {**EVENT, "latency_ms": 9.0}]))
    r = await api.client.post(
        "/v1/telemetry",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (r.status_code, r.json()) == (200, {"accepted": 2, "rejected": []})
    assert len(await _records(bootstrap, topics["telemetry"])) == 2


async def test_nothing_valid_is_422_in_the_one_error_body(
    api: IngestApi, bootstrap: str, topics: dict[str, str]
) -> None:
    r = await api.client.post(
        "/v1/telemetry",
        content=_lines({**EVENT, "kind": "x"}, {**EVENT, "ts": None}),
        headers=NDJSON,
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    assert [f["field"] for f in r.json()["fields"]] == ["body[0].kind", "body[1].ts"]
    assert await _records(bootstrap, topics["telemetry"]) == []


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Content-Type": "text/csv"}, b"a,b", 415, "unsupported_media_type"),
        (
            {"Content-Type": "application/json", "Content-Encoding": "br"},
            b"[]",
            415,
            "unsupported_media_type",
        ),
        ({"Content-Type": "application/json"}, b"[1,", 400, "bad_request"),
        ({"Content-Type": "application/json"}, b'"events"', 400, "bad_request"),
        (
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            b"not gzip",
            400,
            "bad_request",
        ),
        (NDJSON, b"x" * 5000, 413, "too_large"),
        # a small body that inflates past the limit: refused without inflating it all
        (
            NDJSON | {"Content-Encoding": "gzip"},
            gzip.compress(b"\n" * 10_000_000),
            413,
            "too_large",
        ),
    ],
)
async def test_bodies_that_are_no_batch_are_refused_whole(
    api: IngestApi, headers: dict[str, str], body: bytes, status: int, code: str
) -> None:
    r = await api.client.post("/v1/telemetry", content=body, headers=headers)
    assert (r.status_code, r.json()["error"]) == (status, code), r.text
    assert r.json()["message"]


async def test_only_an_ingest_credential_may_write_telemetry(api: IngestApi) -> None:
    body = _lines(EVENT)
    assert (
        await api.anonymous.post("/v1/telemetry", content=body, headers=NDJSON)
    ).status_code == 401
    for role in ("operator", "admin"):  # the ladder does not reach ingest
        r = await api.as_(role).post("/v1/telemetry", content=body, headers=NDJSON)
        assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    r = await api.client.get("/incidents")  # … and ingest reaches nothing else
    assert r.status_code == 403 and "needs the viewer role" in r.json()["message"]


async def test_a_batch_past_the_in_flight_bound_is_429_and_nothing_of_it_is_written(
    database: str, bootstrap: str, topics: dict[str, str]
) -> None:
    async with ingest_api(
        database, bootstrap, topics, ingest={"max_in_flight": 2, "retry_after_s": 3}
    ) as api:
        r = await api.client.post(
            "/v1/telemetry", content=_lines(EVENT, EVENT, EVENT), headers=NDJSON
        )
        assert (r.status_code, r.headers["Retry-After"], r.json()["error"]) == (
            429,
            "3",
            "throttled",
        )
        assert "would pass the bound of 2" in r.json()["message"]
        ok = await api.client.post("/v1/telemetry", content=_lines(EVENT, EVENT), headers=NDJSON)
        assert ok.status_code == 200
        assert len(await _records(bootstrap, topics["telemetry"])) == 2
        assert api.writer.busy == 1


def _alert(status: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "severity": "critical", **labels},
        "annotations": {"summary": "5xx above 10%"},
        "startsAt": "2026-11-25T17:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "9d0e0d8e0d2f0ac3",
    }


async def test_alertmanager_alerts_become_decisions_on_the_decisions_topic(
    api: IngestApi, bootstrap: str, topics: dict[str, str]
) -> None:
    webhook = {
        "version": "4",
        "status": "firing",
        "receiver": "alertpipe",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "alerts": [_alert("firing", service="chat-api"), _alert("firing", instance="x:9100")],
    }
    r = await api.client.post("/v1/alertmanager", json=webhook)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accepted": 1,
        "skipped": [
            {"index": 1, "field": "labels", "reason": "no service label (one of service, job)"}
        ],
    }
    [record] = await _records(bootstrap, topics["decisions"])
    decision = Decision.model_validate_json(record.value)
    assert (record.key, decision.fingerprint, decision.severity.value) == (
        b"chat-api",
        "9d0e0d8e0d2f0ac3",
        "CRITICAL",
    )
    bad = await api.client.post("/v1/alertmanager", json={**webhook, "version": "3"})
    assert (bad.status_code, bad.json()["fields"][0]["field"]) == (422, "body.version")
    nul = {**webhook, "alerts": [_alert("firing", service="chat\u0000api")]}
    refused = await api.client.post("/v1/alertmanager", json=nul)
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["field"] == "body.alerts.0.labels.service"


async def test_otlp_json_traces_over_the_api(
    api: IngestApi, bootstrap: str, topics: dict[str, str]
) -> None:
    def attr(key: str, value: Any) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: value}}

    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "POST /api/message",
        "kind": 2,
        "startTimeUnixNano": "1795626000000000000",
        "endTimeUnixNano": "1795626000042000000",
        "attributes": [
            attr("http.request.method", "POST"),
            attr("http.route", "/api/message"),
            attr("http.response.status_code", 500),
        ],
    }
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "chat-api")]},
                "scopeSpans": [{"spans": [span, {**span, "kind": 3}]}],
            }
        ]
    }
    r = await api.client.post("/v1/traces", json=body)
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", {})
    [record] = await _records(bootstrap, topics["telemetry"])
    event = parse_event(record.value)
    assert (event.kind, event.endpoint, event.status) == ("request", "POST /api/message", 500)  # type: ignore[union-attr]
    assert api.writer.stats.ignored == {"span:client": 1}
    bad = await api.client.post(
        "/v1/traces", content=b"\x0a\xff", headers={"Content-Type": "application/x-protobuf"}
    )
    assert (bad.status_code, bad.json()["error"]) == (400, "bad_request")


def _random_json(rnd: random.Random, depth: int = 0) -> Any:
    """A JSON value of any shape (objects with OTLP's, Alertmanager's and events' own keys)."""
    keys = [
        "kind",
        "ts",
        "service",
        "status",
        "resourceSpans",
        "scopeSpans",
        "spans",
        "attributes",
        "key",
        "value",
        "intValue",
        "stringValue",
        "alerts",
        "labels",
        "version",
        "startsAt",
        "fingerprint",
        "resourceMetrics",
        "gauge",
        "dataPoints",
        "x",
    ]
    leaves = [
        None,
        True,
        -1,
        0,
        2**70,
        1e308,
        -0.5,
        "",
        "4",
        "2",
        "\x00",
        "é" * 300,
        "2026-11-25T17:00:00Z",
        "request",
        "firing",
        "NaN",
    ]
    roll = rnd.random()
    if depth > 4 or roll < 0.35:
        return rnd.choice(leaves)
    if roll < 0.65:
        return [_random_json(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {rnd.choice(keys): _random_json(rnd, depth + 1) for _ in range(rnd.randrange(5))}


async def test_no_body_makes_an_ingest_route_answer_5xx(api: IngestApi) -> None:
    """A bounded fuzz: random JSON and bytes, and mutated valid bodies, to every route in every
    media type it takes; each answer is a 2xx or a 4xx in the one error body."""
    rnd = random.Random(16)
    valid_protobuf = b"\n\x1e\n\x1c\x12\x1a\n\x18\x12\x16\n\x10\x00\x00\x00\x00\x00\x00\x00\x00"
    routes = {
        "/v1/telemetry": ("application/x-ndjson", "application/json"),
        "/v1/traces": ("application/json", "application/x-protobuf"),
        "/v1/metrics": ("application/json", "application/x-protobuf"),
        "/v1/logs": ("application/json", "application/x-protobuf"),
        "/v1/alertmanager": ("application/json",),
    }
    for n in range(150):
        path = rnd.choice(list(routes))
        media = rnd.choice(routes[path])
        if media == "application/x-protobuf":
            raw = bytearray(valid_protobuf if n % 2 else rnd.randbytes(rnd.randrange(40)))
            for _ in range(rnd.randrange(4)):
                if raw:
                    raw[rnd.randrange(len(raw))] = rnd.randrange(256)
            body = bytes(raw)
        else:
            body = json.dumps(_random_json(rnd)).encode()  # orjson stops at 64-bit integers
        r = await api.client.post(path, content=body, headers={"Content-Type": media})
        assert r.status_code < 500, (path, media, body, r.text)
        if r.status_code >= 400:
            assert set(r.json()) <= {"error", "message", "fields"} and r.json()["message"]


async def test_the_openapi_document_declares_the_ingest_routes(api: IngestApi) -> None:
    document = (await api.as_("admin").get("/openapi.json")).json()
    telemetry = document["paths"]["/v1/telemetry"]["post"]
    assert set(telemetry["requestBody"]["content"]) == {
        "application/x-ndjson",
        "application/jsonl",
        "application/json",
    }
    assert {"200", "400", "401", "403", "413", "415", "422", "429"} <= set(telemetry["responses"])
    for signal in ("traces", "metrics", "logs"):
        otlp = document["paths"][f"/v1/{signal}"]["post"]
        assert set(otlp["requestBody"]["content"]) == {"application/x-protobuf", "application/json"}
        assert set(otlp["responses"]["200"]["content"]) == {
            "application/x-protobuf",
            "application/json",
        }
    webhook = document["paths"]["/v1/alertmanager"]["post"]["requestBody"]["content"]
    schema = webhook["application/json"]["schema"]
    assert schema["properties"]["alerts"]["items"]["required"] == [
        "status",
        "labels",
        "startsAt",
        "fingerprint",
    ]
    assert "$ref" not in orjson.dumps(schema).decode()  # nothing points outside the document
