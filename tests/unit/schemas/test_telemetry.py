import orjson
import pytest

from schemas.telemetry import (
    BackupEvent,
    BotEvent,
    DeployEvent,
    IntegrityEvent,
    InvalidEvent,
    LogEvent,
    QueueEvent,
    RequestEvent,
    ResourceEvent,
    RestoreTestEvent,
    encode_event,
    parse_event,
)

TS = "2026-11-25T17:00:00Z"

# The wire contract's examples, one per kind (issue 2).
EXAMPLES = [
    (
        {
            "kind": "request",
            "ts": TS,
            "service": "chat-api",
            "endpoint": "POST /api/message",
            "status": 503,
            "latency_ms": 812.5,
            "version": "2.4.0",
        },
        RequestEvent,
    ),
    (
        {
            "kind": "log",
            "ts": TS,
            "service": "chat-api",
            "level": "error",
            "message": "boom",
            "endpoint": "POST /api/message",
        },
        LogEvent,
    ),
    (
        {
            "kind": "resource",
            "ts": TS,
            "service": "chat-api",
            "host": "web-1",
            "cpu_pct": 91.5,
            "mem_pct": 70.2,
        },
        ResourceEvent,
    ),
    (
        {"kind": "queue", "ts": TS, "service": "bot-runner", "queue": "bot-tasks", "depth": 140},
        QueueEvent,
    ),
    (
        {"kind": "bot", "ts": TS, "service": "bot-runner", "bot_id": "bot-7", "status": "crashed"},
        BotEvent,
    ),
    (
        {
            "kind": "integrity",
            "ts": TS,
            "service": "chat-api",
            "check": "chat_history",
            "ok": False,
            "detail": "rows missing",
        },
        IntegrityEvent,
    ),
    (
        {
            "kind": "deploy",
            "ts": TS,
            "service": "chat-api",
            "version": "2.4.0",
            "status": "started",
        },
        DeployEvent,
    ),
    (
        {
            "kind": "backup",
            "ts": TS,
            "service": "chat-api",
            "dataset": "chat_messages",
            "type": "wal",
            "status": "succeeded",
            "backup_id": "wal-000000010000002A",
            "taken_at": "2026-11-25T16:59:30Z",
            "size_bytes": 16777216,
            "location": "s3://backups/chat/wal-000000010000002A",
        },
        BackupEvent,
    ),
    (
        {
            "kind": "restore_test",
            "ts": TS,
            "service": "chat-api",
            "backup_id": "full-20261125T1600",
            "dataset": "chat_messages",
            "ok": True,
            "duration_s": 412.5,
            "environment": "staging",
        },
        RestoreTestEvent,
    ),
]


@pytest.mark.parametrize(("data", "model"), EXAMPLES)
def test_each_kind_parses_to_its_model(data: dict[str, object], model: type) -> None:
    event = parse_event(orjson.dumps(data))
    assert isinstance(event, model)
    assert event.service == data["service"]
    assert event.ts == 1795626000.0


@pytest.mark.parametrize(("data", "model"), EXAMPLES)
def test_encode_round_trips(data: dict[str, object], model: type) -> None:
    event = parse_event(orjson.dumps(data))
    assert parse_event(encode_event(event)) == event


def test_extra_fields_are_tolerated() -> None:
    data = dict(EXAMPLES[0][0], region="eu-west-1", trace={"id": 1})
    event = parse_event(orjson.dumps(data))
    assert isinstance(event, RequestEvent)
    assert "region" not in encode_event(event).decode()


def test_epoch_milliseconds_are_converted() -> None:
    data = dict(EXAMPLES[0][0], ts=1795626000250)
    assert parse_event(orjson.dumps(data)).ts == pytest.approx(1795626000.25)


def _reason(raw: bytes) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    return caught.value


def _request(**changes: object) -> bytes:
    data = dict(EXAMPLES[0][0], **changes)
    return orjson.dumps({k: v for k, v in data.items() if v is not None})


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b'"text"', None, "JSON object"),
        (_request(status="teapot"), "status", "integer"),
        (_request(status=99), "status", "greater than or equal to 100"),
        (_request(status=600), "status", "less than or equal to 599"),
        (_request(latency_ms=-1), "latency_ms", "greater than or equal to 0"),
        (_request(latency_ms="fast"), "latency_ms", "number"),
        (_request(endpoint=None), "endpoint", "field required"),
        (_request(service=None), "service", "field required"),
        (_request(ts=None), "ts", "field required"),
        (_request(ts="last tuesday"), "ts", "RFC 3339"),
        (_request(kind="metric"), "kind", "one of request, log"),
        (_request(kind=None), "kind", "field required"),
        (_request(v=2), "v", "unsupported wire version"),
        (
            orjson.dumps({"kind": "resource", "ts": TS, "service": "a", "host": "h"}),
            "cpu_pct",
            "cpu_pct or mem_pct",
        ),
        (
            orjson.dumps(
                {"kind": "resource", "ts": TS, "service": "a", "host": "h", "cpu_pct": 140}
            ),
            "cpu_pct",
            "less than or equal to 100",
        ),
        (
            orjson.dumps(
                {"kind": "bot", "ts": TS, "service": "a", "bot_id": "b", "status": "sleepy"}
            ),
            "status",
            "online",
        ),
        (
            orjson.dumps({"kind": "queue", "ts": TS, "service": "a", "queue": "q", "depth": -3}),
            "depth",
            "greater than or equal to 0",
        ),
    ],
)
def test_malformed_input_names_the_field(raw: bytes, field: str | None, fragment: str) -> None:
    error = _reason(raw)
    assert error.field == field
    assert fragment in error.reason
    if field is not None:
        assert error.reason.startswith(f"{field}:")
