"""OTLP as telemetry events: server spans, ERROR logs, CPU and memory utilization and the
policy's gauges become events (current and older semantic-convention names both); the rest is
ignored and counted; invalid items are rejected with the models' reasons."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from schemas.telemetry import parse_event
from streams.ingest.batch import BadBody
from streams.ingest.otlp import (
    Signal,
    decode,
    response,
    translate_logs,
    translate_metrics,
    translate_traces,
)
from streams.policy.sources import BotGauge, OtlpPolicy, QueueGauge

T0 = 1_795_626_000_000_000_000  # ns


def _attrs(**values: Any) -> list[KeyValue]:
    out = []
    for key, value in values.items():
        name = key.replace("__", ".")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(value)
        if isinstance(value, str):
            any_value = AnyValue(string_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        else:
            any_value = AnyValue(double_value=value)
        out.append(KeyValue(key=name, value=any_value))
    return out


def _traces(*spans: Span, **resource: Any) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(_attrs(**resource))
    rs.scope_spans.add().spans.extend(spans)
    return request


def _span(kind: int = Span.SpanKind.SPAN_KIND_SERVER, ms: float = 42.5, **attrs: Any) -> Span:
    return Span(
        name="POST /api/message",
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + int(ms * 1e6),
        attributes=_attrs(**attrs),
    )


def _events(records: list[tuple[bytes | None, bytes]]) -> list[dict[str, Any]]:
    return [parse_event(value).model_dump(exclude_none=True) for _, value in records]


SERVICE = {"service__name": "chat-api", "service__version": "2.4.0"}


def test_server_spans_are_requests_with_current_and_older_attribute_names() -> None:
    current = _span(
        http__request__method="POST", http__route="/api/message", http__response__status_code=503
    )
    older = _span(ms=7.0, http__method="GET", http__route="/api/history", http__status_code="200")
    found = translate_traces(_traces(current, older, **SERVICE))
    assert [
        (key, e["endpoint"], e["status"])
        for (key, _), e in zip(found.records, _events(found.records), strict=True)
    ] == [
        (b"chat-api", "POST /api/message", 503),
        (b"chat-api", "GET /api/history", 200),
    ]
    first = _events(found.records)[0]
    assert first["latency_ms"] == pytest.approx(42.5)
    assert first["ts"] == pytest.approx((T0 + 42_500_000) / 1e9)
    assert first["version"] == "2.4.0" and first["service"] == "chat-api"
    assert found.rejected == 0 and not found.ignored


def test_other_spans_are_ignored_and_counted_and_bad_server_spans_rejected() -> None:
    found = translate_traces(
        _traces(
            _span(Span.SpanKind.SPAN_KIND_CLIENT, http__request__method="GET"),
            _span(Span.SpanKind.SPAN_KIND_INTERNAL),
            _span(),  # a server span with no HTTP method: gRPC, say
            _span(http__request__method="GET", http__route="/x"),  # no status code
            _span(http__request__method="GET", http__route="/x", http__response__status_code=0),
            **SERVICE,
        )
    )
    assert not found.records
    assert found.ignored == {"span:client": 1, "span:internal": 1, "span:server_not_http": 1}
    assert found.rejected == 2
    assert found.reasons == [
        "span 'POST /api/message': no http.response.status_code",
        "span 'POST /api/message': status: Input should be greater than or equal to 100",
    ]


def test_a_span_kind_no_enum_names_is_ignored_as_unknown() -> None:
    body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": 99}]}]}]})
    found = translate_traces(decode(Signal.TRACES, body, "json"))
    assert found.ignored == {"span:unknown": 1} and not found.records


def test_a_span_without_a_route_keeps_its_name_and_without_a_service_is_rejected() -> None:
    found = translate_traces(
        _traces(_span(http__request__method="POST", http__response__status_code=200), **SERVICE)
    )
    assert _events(found.records)[0]["endpoint"] == "POST /api/message"
    nameless = translate_traces(
        _traces(_span(http__request__method="GET", http__route="/", http__status_code=200))
    )
    assert nameless.rejected == 1 and "service" in nameless.reasons[0]


def _logs(*records: LogRecord) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(_attrs(**SERVICE))
    rl.scope_logs.add().log_records.extend(records)
    return request


def test_logs_at_error_and_above_are_log_events() -> None:
    found = translate_logs(
        _logs(
            LogRecord(time_unix_nano=T0, severity_number=9, body=AnyValue(string_value="fine")),
            LogRecord(
                time_unix_nano=T0,
                severity_number=17,
                body=AnyValue(string_value="db timeout"),
                attributes=_attrs(http__request__method="POST", http__route="/api/message"),
            ),
            LogRecord(observed_time_unix_nano=T0, severity_number=21, body=AnyValue(int_value=7)),
            LogRecord(time_unix_nano=T0, severity_text="ERROR", body=AnyValue(string_value="x")),
        )
    )
    events = _events(found.records)
    assert [(e["level"], e["message"]) for e in events] == [
        ("error", "db timeout"),
        ("critical", "7"),
        ("error", "x"),
    ]
    assert events[0]["endpoint"] == "POST /api/message" and "endpoint" not in events[1]
    assert events[1]["ts"] == pytest.approx(T0 / 1e9)
    assert found.ignored == {"log:below_error": 1}


def _metrics(*metrics: Metric, **resource: Any) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend(_attrs(**{**SERVICE, **resource}))
    rm.scope_metrics.add().metrics.extend(metrics)
    return request


def _gauge(name: str, *points: tuple[float, dict[str, Any]], at: int = T0) -> Metric:
    metric = Metric(name=name)
    for value, attrs in points:
        point = NumberDataPoint(time_unix_nano=at, attributes=_attrs(**attrs))
        if isinstance(value, int):
            point.as_int = value
        else:
            point.as_double = value
        metric.gauge.data_points.append(point)
    return metric


def test_cpu_is_every_mode_but_idle_averaged_over_the_cpus_and_memory_its_used_state() -> None:
    cpu = _gauge(
        "system.cpu.utilization",
        (0.6, {"cpu__mode": "user", "cpu__logical_number": 0}),
        (0.3, {"cpu__mode": "idle", "cpu__logical_number": 0}),
        (0.2, {"cpu__mode": "user", "cpu__logical_number": 1}),
        (0.1, {"cpu__mode": "system", "cpu__logical_number": 1}),
    )
    older = _gauge("system.cpu.utilization", (0.25, {"state": "idle"}), at=T0 + 10**9)
    memory = _gauge(
        "system.memory.utilization",
        (0.7, {"system__memory__state": "used"}),
        (0.3, {"system__memory__state": "free"}),
    )
    process = _gauge("process.memory.utilization", (0.125, {}))
    found = translate_metrics(
        _metrics(cpu, older, memory, process, host__name="web-1"), OtlpPolicy()
    )
    got = [(e["host"], e.get("cpu_pct"), e.get("mem_pct")) for e in _events(found.records)]
    assert got == [
        ("web-1", pytest.approx(45.0), None),  # (0.6 + 0.2 + 0.1) / 2 CPUs
        ("web-1", pytest.approx(75.0), None),  # only idle reported: 1 − 0.25
        ("web-1", None, pytest.approx(70.0)),
        ("web-1", None, pytest.approx(12.5)),
    ]
    assert found.rejected == 0


def test_the_policy_names_the_queue_and_bot_gauges_and_the_rest_is_ignored() -> None:
    mapping = OtlpPolicy(
        queues=(QueueGauge(metric="app.queue.depth", attribute="queue.name"),),
        bots=(
            BotGauge(metric="app.bot.state", states={0: "offline", 1: "online", 2: "crashed"}),
            BotGauge(metric="app.bot.status", state_attribute="bot.state"),
        ),
    )
    found = translate_metrics(
        _metrics(
            _gauge("app.queue.depth", (140, {"queue__name": "bot-tasks"})),
            _gauge("app.bot.state", (2, {"bot__id": "bot-7"}), (9, {"bot__id": "bot-8"})),
            _gauge(
                "app.bot.status",
                (0, {"bot__id": "bot-9", "bot__state": "online"}),
                (1, {"bot__id": "bot-9", "bot__state": "error"}),
            ),
            _gauge("http.server.active_requests", (3, {})),
        ),
        mapping,
    )
    events = _events(found.records)
    assert [
        (e["kind"], e.get("queue") or e.get("bot_id"), e.get("depth") or e.get("status"))
        for e in events
    ] == [
        ("queue", "bot-tasks", 140),
        ("bot", "bot-7", "crashed"),
        ("bot", "bot-9", "error"),
    ]
    assert found.rejected == 1 and found.reasons == ["app.bot.state: value 9 is no listed state"]
    assert found.ignored == {"metric:unmapped": 1}


def test_json_bodies_with_hex_ids_decode_like_protobuf_ones() -> None:
    request = _traces(
        _span(http__request__method="GET", http__route="/x", http__response__status_code=200),
        **SERVICE,
    )
    data = MessageToDict(request)
    span = data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"], span["spanId"] = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    span["kind"] = 2  # OTLP/JSON writes enums as integers
    decoded = decode(Signal.TRACES, orjson.dumps(data), "json")
    assert translate_traces(decoded).records == translate_traces(request).records
    protobuf = decode(Signal.TRACES, request.SerializeToString(), "protobuf")
    assert translate_traces(protobuf).records == translate_traces(request).records


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b"\xff\xff\xff", "protobuf"),
        (b"{", "json"),
        (b"[]", "json"),
        (b'{"resourceSpans": 3}', "json"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": [1]}]}]}]}', "json"),
    ],
)
def test_a_body_that_is_no_export_request_is_bad(body: bytes, encoding: str) -> None:
    with pytest.raises(BadBody):
        decode(Signal.TRACES, body, encoding)  # type: ignore[arg-type]


def test_the_response_counts_what_was_rejected_in_the_request_encoding() -> None:
    found = translate_traces(
        _traces(_span(http__request__method="GET", http__route="/x"), **SERVICE)
    )
    body, content_type = response(Signal.TRACES, found, "json")
    assert content_type == "application/json"
    assert orjson.loads(body) == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": "span 'POST /api/message': no http.response.status_code",
        }
    }
    raw, content_type = response(Signal.LOGS, translate_logs(_logs()), "protobuf")
    assert (raw, content_type) == (b"", "application/x-protobuf")
