"""OTLP (OpenTelemetry's protocol) as telemetry events: what a service's OpenTelemetry SDK, or a
Collector, already sends, read without re-instrumenting anything.

Server spans become request events, ERROR-and-above logs log events, CPU and memory
utilizations resource events, and the gauges the policy's ``otlp`` section names queue and bot
events; everything else is ignored and counted (docs/telemetry.md, "OpenTelemetry
(OTLP/HTTP)", has the mapping). Each event goes through ``schemas.telemetry.validate_event``,
so an invalid one is rejected with the models' own reason, like any producer's event.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import orjson
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from schemas.telemetry import InvalidEvent, encode_event, validate_event
from streams.ingest.batch import UNSTORABLE, BadBody
from streams.ingest.writer import Record
from streams.policy.sources import OtlpPolicy

__all__ = [
    "Encoding",
    "Signal",
    "Translation",
    "decode",
    "response",
    "translate",
    "translate_logs",
    "translate_metrics",
    "translate_traces",
]

Encoding = Literal["protobuf", "json"]

ERROR_SEVERITY = 17  # SEVERITY_NUMBER_ERROR
FATAL_SEVERITY = 21  # SEVERITY_NUMBER_FATAL
_MAX_REASONS = 5


class Signal(StrEnum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


_REQUESTS: dict[Signal, type[Message]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}


@dataclass
class Translation:
    """What one export request became: events to write, and what was left out, and why."""

    records: list[Record] = field(default_factory=list)
    rejected: int = 0  # items that should have been events but were invalid
    reasons: list[str] = field(default_factory=list)  # the first few rejections' reasons
    ignored: Counter[str] = field(default_factory=Counter)  # by what they were

    def add(self, data: dict[str, Any], what: str) -> None:
        try:
            event = validate_event(data)
        except InvalidEvent as bad:
            self.reject(f"{what}: {bad.reason}")
            return
        value = encode_event(event)
        if b"\\u0000" in value:  # as HTTP ingest's lines: PostgreSQL cannot store it
            self.reject(f"{what}: {UNSTORABLE}")
            return
        self.records.append((event.service.encode(), value))

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < _MAX_REASONS:
            self.reasons.append(reason)

    @property
    def error_message(self) -> str:
        more = self.rejected - len(self.reasons)
        return "; ".join(self.reasons) + (f"; and {more} more" if more > 0 else "")


# --- decoding ------------------------------------------------------------------------------


def decode(signal: Signal, body: bytes, encoding: Encoding) -> Any:
    """The export request in ``body``; ``BadBody`` when it is not one."""
    message = _REQUESTS[signal]()
    if encoding == "protobuf":
        try:
            message.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError, RecursionError) as error:
            raise BadBody(f"not an OTLP {signal} protobuf message: {error}") from None
        return message
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadBody(f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadBody(f"expected an OTLP/JSON {signal} export request (an object)")
    try:
        # OTLP/JSON writes trace and span ids in hex where protobuf's JSON mapping expects
        # base64; they are not read here, so they are dropped rather than misread.
        ParseDict(_without_ids(data), message, ignore_unknown_fields=True)
    except BadBody:
        raise
    except Exception as error:  # ParseError, and whatever else a hostile body provokes
        raise BadBody(f"not an OTLP/JSON {signal} export request: {error}") from None
    return message


_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id"})


def _without_ids(value: Any, depth: int = 0) -> Any:
    if depth > 64:
        raise BadBody("the OTLP/JSON body is nested too deeply")
    if isinstance(value, dict):
        return {k: _without_ids(v, depth + 1) for k, v in value.items() if k not in _ID_FIELDS}
    if isinstance(value, list):
        return [_without_ids(v, depth + 1) for v in value]
    return value


def response(signal: Signal, found: Translation, encoding: Encoding) -> tuple[bytes, str]:
    """The export response (with ``partial_success`` when something was rejected) and its
    content type, in the request's encoding."""
    message: Any = {
        Signal.TRACES: ExportTraceServiceResponse,
        Signal.METRICS: ExportMetricsServiceResponse,
        Signal.LOGS: ExportLogsServiceResponse,
    }[signal]()
    if found.rejected:
        partial = message.partial_success
        rejected_field = {
            Signal.TRACES: "rejected_spans",
            Signal.METRICS: "rejected_data_points",
            Signal.LOGS: "rejected_log_records",
        }[signal]
        setattr(partial, rejected_field, found.rejected)
        partial.error_message = found.error_message
    if encoding == "protobuf":
        return message.SerializeToString(), "application/x-protobuf"
    return orjson.dumps(MessageToDict(message)), "application/json"


# --- attributes ----------------------------------------------------------------------------


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value", "bytes_value"):
        return None  # never a name, a status or a number alertpipe reads
    return getattr(value, kind)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _first(attrs: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present: current semantic-convention names first, older after."""
    return next((attrs[n] for n in names if attrs.get(n) not in (None, "")), None)


def _status(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)  # some instrumentations record the status code as a string
    return value


def _seconds(unix_nano: int) -> float:
    return unix_nano / 1e9


# --- traces --------------------------------------------------------------------------------


def translate_traces(request: ExportTraceServiceRequest) -> Translation:
    found = Translation()
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _span(found, resource, span)
    return found


# A kind's name as the ignored count says it; OTLP/JSON may carry a number no enum names.
_SPAN_KINDS = {
    value: name.removeprefix("SPAN_KIND_").lower() for name, value in Span.SpanKind.items()
}


def _span(found: Translation, resource: Mapping[str, Any], span: Span) -> None:
    if span.kind != Span.SpanKind.SPAN_KIND_SERVER:
        found.ignored[f"span:{_SPAN_KINDS.get(span.kind, 'unknown')}"] += 1
        return
    attrs = _attributes(span.attributes)
    method = _first(attrs, "http.request.method", "http.method")
    if method is None:
        found.ignored["span:server_not_http"] += 1
        return
    route = _first(attrs, "http.route")
    status = _status(_first(attrs, "http.response.status_code", "http.status_code"))
    if status is None:
        found.reject(f"span {span.name!r}: no http.response.status_code")
        return
    data = {
        "kind": "request",
        "ts": _seconds(span.end_time_unix_nano),
        "service": resource.get("service.name"),
        "endpoint": f"{method} {route}" if route else span.name,
        "status": status,
        "latency_ms": (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6,
    }
    version = resource.get("service.version")
    if version:
        data["version"] = version
    found.add(data, f"span {span.name!r}")


# --- logs ----------------------------------------------------------------------------------

_TEXT_LEVELS = {"ERROR": "error", "FATAL": "critical", "CRITICAL": "critical"}


def _level(number: int, text: str) -> str | None:
    if number >= FATAL_SEVERITY:
        return "critical"
    if number >= ERROR_SEVERITY:
        return "error"
    if number == 0:  # unspecified: the text may still say it
        return _TEXT_LEVELS.get(text.strip().upper())
    return None


def _message(body: AnyValue) -> str:
    value = _value(body)
    if isinstance(value, str):
        return value
    if value is None and body.WhichOneof("value") is not None:
        return orjson.dumps(MessageToDict(body)).decode()
    return "" if value is None else str(value)


def translate_logs(request: ExportLogsServiceRequest) -> Translation:
    found = Translation()
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                level = _level(record.severity_number, record.severity_text)
                if level is None:
                    found.ignored["log:below_error"] += 1
                    continue
                attrs = _attributes(record.attributes)
                data: dict[str, Any] = {
                    "kind": "log",
                    "ts": _seconds(record.time_unix_nano or record.observed_time_unix_nano),
                    "service": resource.get("service.name"),
                    "level": level,
                    "message": _message(record.body)[:65_536],
                }
                method = _first(attrs, "http.request.method", "http.method")
                route = attrs.get("http.route")
                if method and route:
                    data["endpoint"] = f"{method} {route}"
                found.add(data, "log record")
    return found


# --- metrics -------------------------------------------------------------------------------

_CPU = frozenset({"system.cpu.utilization", "process.cpu.utilization"})
_MEMORY = frozenset({"system.memory.utilization", "process.memory.utilization"})
_MODE = ("cpu.mode", "system.cpu.state", "process.cpu.state", "state")
_MEMORY_STATE = ("system.memory.state", "state")
_CPU_NUMBER = ("cpu.logical_number", "system.cpu.logical_number", "cpu")
_IDLE = frozenset({"idle"})


def _points(metric: Metric) -> Iterable[NumberDataPoint]:
    kind = metric.WhichOneof("data")
    points: Iterable[NumberDataPoint] = ()
    if kind == "gauge":
        points = metric.gauge.data_points
    elif kind == "sum":
        points = metric.sum.data_points
    return points


def _number(point: NumberDataPoint) -> float:
    return point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)


def _host(resource: Mapping[str, Any]) -> Any:
    return _first(resource, "host.name", "host.id", "service.instance.id", "service.name")


def _by_time(points: Iterable[NumberDataPoint]) -> Iterator[tuple[int, list[NumberDataPoint]]]:
    grouped: dict[int, list[NumberDataPoint]] = defaultdict(list)
    for point in points:
        grouped[point.time_unix_nano].append(point)
    return iter(sorted(grouped.items()))


def _cpu_busy(points: list[NumberDataPoint]) -> float:
    """The busy share of the CPUs: every mode but idle (or 1 − idle when only idle is
    reported), averaged over the logical CPUs; a point with no mode is the share itself."""
    cpus = {_first(_attributes(p.attributes), *_CPU_NUMBER) for p in points}
    modes = [(_first(_attributes(p.attributes), *_MODE), _number(p)) for p in points]
    if all(mode is None for mode, _ in modes):
        return sum(value for _, value in modes) / len(cpus)
    busy = [value for mode, value in modes if mode not in _IDLE and mode is not None]
    if busy:
        return sum(busy) / len(cpus)
    return 1.0 - sum(value for _, value in modes) / len(cpus)


def _memory_used(points: list[NumberDataPoint]) -> float | None:
    states = [(_first(_attributes(p.attributes), *_MEMORY_STATE), _number(p)) for p in points]
    if all(state is None for state, _ in states):
        return sum(value for _, value in states) / len(states)
    return next((value for state, value in states if state == "used"), None)


def translate_metrics(request: ExportMetricsServiceRequest, mapping: OtlpPolicy) -> Translation:
    found = Translation()
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                _metric(found, resource, metric, mapping)
    return found


def _metric(
    found: Translation, resource: Mapping[str, Any], metric: Metric, mapping: OtlpPolicy
) -> None:
    name = metric.name
    if metric.WhichOneof("data") not in ("gauge", "sum"):
        found.ignored[f"metric:{metric.WhichOneof('data') or 'empty'}"] += 1
        return
    if name in _CPU or name in _MEMORY:
        _resource(found, resource, metric)
    elif mapping.queue(name) is not None:
        _queue(found, resource, metric, mapping)
    elif mapping.bot(name) is not None:
        _bot(found, resource, metric, mapping)
    else:
        found.ignored["metric:unmapped"] += 1


def _resource(found: Translation, resource: Mapping[str, Any], metric: Metric) -> None:
    cpu = metric.name in _CPU
    for time_unix_nano, points in _by_time(_points(metric)):
        share = _cpu_busy(points) if cpu else _memory_used(points)
        if share is None:
            found.ignored["metric:memory_without_used_state"] += 1
            continue
        data = {
            "kind": "resource",
            "ts": _seconds(time_unix_nano),
            "service": resource.get("service.name"),
            "host": _host(resource),
            "cpu_pct" if cpu else "mem_pct": round(share * 100.0, 6),
        }
        found.add(data, metric.name)


def _queue(
    found: Translation, resource: Mapping[str, Any], metric: Metric, mapping: OtlpPolicy
) -> None:
    gauge = mapping.queue(metric.name)
    assert gauge is not None
    for point in _points(metric):
        attrs = _attributes(point.attributes)
        depth = _number(point)
        data = {
            "kind": "queue",
            "ts": _seconds(point.time_unix_nano),
            "service": resource.get("service.name"),
            "queue": attrs.get(gauge.attribute),
            "depth": int(depth) if depth.is_integer() else depth,
        }
        found.add(data, metric.name)


def _bot(
    found: Translation, resource: Mapping[str, Any], metric: Metric, mapping: OtlpPolicy
) -> None:
    gauge = mapping.bot(metric.name)
    assert gauge is not None
    for point in _points(metric):
        attrs = _attributes(point.attributes)
        status = gauge.status(_number(point), attrs)
        if status is None:
            if gauge.state_attribute is None:
                found.reject(f"{metric.name}: value {_number(point):g} is no listed state")
            continue  # a state metric's other states (value 0) are not news
        data = {
            "kind": "bot",
            "ts": _seconds(point.time_unix_nano),
            "service": resource.get("service.name"),
            "bot_id": attrs.get(gauge.attribute),
            "status": status,
        }
        found.add(data, metric.name)


def translate(signal: Signal, request: Any, mapping: OtlpPolicy) -> Translation:
    if signal is Signal.TRACES:
        return translate_traces(request)
    if signal is Signal.LOGS:
        return translate_logs(request)
    return translate_metrics(request, mapping)
