"""OpenTelemetry's own Python SDK and OTLP/HTTP exporters send to a running alertpipe (the
aggregator and the api role, its HTTP server on a loopback port): server spans, an ERROR log,
CPU and memory utilization and a queue gauge come out of stage 1 as panes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from app.credentials import issue_token
from app.pipeline import Pipeline, build_pipeline
from app.settings import Settings
from schemas.panes import PaneSummary
from tests.support.waiting import eventually

SERVICE = f"checkout-{uuid.uuid4().hex[:6]}"
POLICY = """
rules:
  - {name: r, metric: error_rate, comparison: ">", threshold: 1%, min_samples: 1, for: 0s,
     keep_firing_for: 0s, window: 1m, severity: LOW, response: record}
otlp:
  queues:
    - {metric: app.queue.depth, attribute: queue.name}
"""


@pytest.fixture
async def alertpipe(
    database: str, bootstrap: str, make_topic: Callable[..., Awaitable[str]], tmp_path: Path
) -> AsyncIterator[tuple[Pipeline, str, str]]:
    """A running alertpipe: the URL of its HTTP server and an ingest token."""
    (tmp_path / "policy.yaml").write_text(POLICY)
    topics = {name: await make_topic(name) for name in ("telemetry", "panes", "dead_letter")}
    settings = Settings(
        database_url=database,
        kafka_bootstrap=bootstrap,
        topics=topics,
        group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        policy=tmp_path / "policy.yaml",
        http_port=0,
        aggregator={"allowed_lateness_ms": 0, "idle_timeout_ms": 500},
    )
    pipeline = await build_pipeline(settings, ("aggregator", "api"))
    assert pipeline.responder is not None and pipeline.http is not None
    r = pipeline.responder
    _, token = await issue_token(r.credentials, "otel-sdk", "ingest", "tests", r.clock.now())
    tasks = []
    for role in pipeline.roles:
        await role.start()
        tasks.append(asyncio.create_task(role.run()))
    try:
        await eventually(
            lambda: asyncio.sleep(0, pipeline.role("aggregator").health()["ready"]),
            what="stage 1 ready",
        )
        yield pipeline, f"http://127.0.0.1:{pipeline.http.port}", token
    finally:
        for role in reversed(pipeline.roles):
            with contextlib.suppress(Exception):
                await role.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await pipeline.close()


def _send_with_the_sdk(url: str, token: str) -> None:
    """What an instrumented service does (in a thread: the SDK's exporters block)."""
    headers = {"Authorization": f"Bearer {token}"}
    resource = Resource.create(
        {"service.name": SERVICE, "service.version": "3.1.0", "host.name": "web-7"}
    )
    traces = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(f"{url}/v1/traces", headers=headers, compression=Compression.Gzip)
    traces.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = traces.get_tracer("shop")
    for status in (200, 200, 500):  # current semantic conventions
        attrs = {
            "http.request.method": "POST",
            "http.route": "/api/checkout",
            "http.response.status_code": status,
        }
        with (
            tracer.start_as_current_span(
                "POST /api/checkout", kind=SpanKind.SERVER, attributes=attrs
            ),
            tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT),
        ):
            pass
    older = {"http.method": "GET", "http.route": "/api/cart", "http.status_code": 503}
    with tracer.start_as_current_span("GET /api/cart", kind=SpanKind.SERVER, attributes=older):
        pass
    traces.shutdown()

    metrics_exporter = OTLPMetricExporter(f"{url}/v1/metrics", headers=headers)
    reader = PeriodicExportingMetricReader(metrics_exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meters.get_meter("host")

    def cpu(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(0.7, {"cpu.mode": "user", "cpu.logical_number": 0}),
            Observation(0.2, {"cpu.mode": "idle", "cpu.logical_number": 0}),
            Observation(0.1, {"cpu.mode": "system", "cpu.logical_number": 0}),
        ]

    def memory(options: CallbackOptions) -> list[Observation]:
        return [
            Observation(0.9, {"system.memory.state": "used"}),
            Observation(0.1, {"system.memory.state": "free"}),
        ]

    def queue(options: CallbackOptions) -> list[Observation]:
        return [Observation(140, {"queue.name": "orders"})]

    meter.create_observable_gauge("system.cpu.utilization", [cpu], unit="1")
    meter.create_observable_gauge("system.memory.utilization", [memory], unit="1")
    meter.create_observable_gauge("app.queue.depth", [queue])
    meter.create_observable_gauge("app.unmapped", [lambda options: [Observation(1)]])
    meters.shutdown()  # collects and exports once

    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(f"{url}/v1/logs", headers=headers))
    )
    logger = logs.get_logger("shop")
    logger.emit(severity_number=SeverityNumber.INFO, body="checkout started")  # ignored
    logger.emit(severity_number=SeverityNumber.ERROR, body="payment provider timed out")
    logs.shutdown()


async def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every committed record of the one partition of ``topic``, up to its current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        got: list[bytes] = []
        while await consumer.position(tp) < end:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(r.value for r in batch if r.value is not None)
        return got
    finally:
        await consumer.stop()


def _ours(panes: list[PaneSummary], dimension: str) -> list[PaneSummary]:
    return [p for p in panes if p.scope.service == SERVICE and p.scope.dimension == dimension]


async def test_the_sdks_exports_become_panes(
    alertpipe: tuple[Pipeline, str, str], bootstrap: str
) -> None:
    pipeline, url, token = alertpipe
    await asyncio.to_thread(_send_with_the_sdk, url, token)
    topic = pipeline.settings.topics.panes

    async def panes() -> list[PaneSummary]:
        return [PaneSummary.model_validate_json(v) for v in await read_topic(bootstrap, topic)]

    def complete(found: list[PaneSummary]) -> bool:
        return all(_ours(found, d) for d in ("endpoint", "host", "queue", "service"))

    found = await eventually(panes, complete, within_s=30, what="the panes of the SDK's data")
    requests: dict[str, Any] = {}
    for pane in _ours(found, "endpoint"):
        if pane.requests is not None:
            seen = requests.setdefault(pane.scope.key, [0, 0, {}])
            seen[0] += pane.requests.count
            seen[1] += pane.requests.errors
            for version, n in pane.requests.versions.items():
                seen[2][version] = seen[2].get(version, 0) + n
    assert requests == {
        "POST /api/checkout": [3, 1, {"3.1.0": 3}],
        "GET /api/cart": [1, 1, {"3.1.0": 1}],  # the older attribute names
    }
    [host] = _ours(found, "host")
    assert host.scope.key == "web-7" and host.resource is not None
    assert host.resource.cpu_max == pytest.approx(80.0) and host.resource.mem_max == pytest.approx(
        90.0
    )
    [queue] = _ours(found, "queue")
    assert (queue.scope.key, queue.queue and queue.queue.depth_max) == ("orders", 140)
    log_panes = [p for p in _ours(found, "service") if p.logs is not None]
    assert sum(p.logs.errors for p in log_panes if p.logs) == 1
    writer = pipeline.role("ingest-producer").health()
    assert writer["ignored"] == {"span:client": 3, "log:below_error": 1, "metric:unmapped": 1}
    assert writer["ingested"] == {"otlp_traces": 4, "otlp_metrics": 3, "otlp_logs": 1}
