"""Telemetry for stage-1 tests: random valid events, Kafka-like records, and a pure runner.

Imported as ``tests.unit.streams.aggregate.telemetry_factory`` by the unit and integration
tests of stage 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import strategies as st

from schemas.panes import PaneSummary
from streams.aggregate.partition import ClosedPane, PaneRules, PartitionAggregator

BASE_MS = 1_764_090_000_000  # 2025-11-25T17:00:00Z
SERVICE = "chat-api"
ENDPOINTS = ("POST /api/message", "GET /api/search")


@dataclass(frozen=True)
class FakeRecord:
    """What aiokafka's ConsumerRecord offers the stage."""

    offset: int
    value: bytes | None
    timestamp: int = BASE_MS + 3_600_000  # produced an hour after the event times
    key: bytes | None = SERVICE.encode()
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def records(events: Sequence[dict[str, Any] | bytes], first_offset: int = 0) -> list[FakeRecord]:
    """Events (dicts are JSON-encoded, bytes sent as they are) at consecutive offsets."""
    return [
        FakeRecord(first_offset + i, e if isinstance(e, bytes) else orjson.dumps(e))
        for i, e in enumerate(events)
    ]


def request(ms: int, latency: float = 10.0, status: int = 200, **extra: Any) -> dict[str, Any]:
    return {"kind": "request", "ts": ms / 1000, "service": SERVICE, "endpoint": ENDPOINTS[0],
            "status": status, "latency_ms": latency, **extra}  # fmt: skip


def _event(kind: str, ms: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "ts": ms / 1000, "service": SERVICE, **payload}


offsets_ms = st.integers(0, 1999)
latencies = st.one_of(st.floats(0.01, 60_000, allow_nan=False), st.integers(0, 5000), st.just(0.0))
payloads: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "request": st.fixed_dictionaries(
        {
            "endpoint": st.sampled_from(ENDPOINTS),
            "status": st.sampled_from([200, 404, 500, 503]),
            "latency_ms": latencies,
        },
        optional={"version": st.sampled_from(["v1", "v2"])},
    ),
    "log": st.fixed_dictionaries(
        {
            "level": st.sampled_from(["info", "warning", "error", "critical"]),
            "message": st.just("m"),
        },
        optional={"endpoint": st.sampled_from(ENDPOINTS)},
    ),
    "resource": st.fixed_dictionaries(
        {"host": st.just("h1")},
        optional={"cpu_pct": st.floats(0, 100), "mem_pct": st.floats(0, 100)},
    ).filter(lambda p: "cpu_pct" in p or "mem_pct" in p),
    "queue": st.fixed_dictionaries({"queue": st.just("jobs"), "depth": st.integers(0, 500)}),
    "bot": st.fixed_dictionaries(
        {"bot_id": st.just("b1"), "status": st.sampled_from(["online", "crashed", "restarted"])}
    ),
    "integrity": st.fixed_dictionaries(
        {"check": st.just("rows"), "ok": st.booleans()},
        optional={"detail": st.sampled_from(["3 missing", "checksum"])},
    ),
    "deploy": st.fixed_dictionaries(
        {
            "version": st.sampled_from(["v1", "v2"]),
            "status": st.sampled_from(["started", "succeeded", "failed"]),
        }
    ),
}


@st.composite
def telemetry(draw: st.DrawFn, kinds: tuple[str, ...] = tuple(payloads)) -> dict[str, Any]:
    """One valid event, its time within two seconds of BASE_MS (ms resolution)."""
    kind = draw(st.sampled_from(kinds).map(str))
    ms = BASE_MS + draw(offsets_ms)
    return _event(kind, ms, draw(payloads[kind]))


def event_ms(event: dict[str, Any]) -> int:
    return round(float(event["ts"]) * 1000)


def run_all(
    events: Sequence[dict[str, Any] | bytes], rules: PaneRules, batch: int = 7, partition: int = 0
) -> tuple[PartitionAggregator, list[PaneSummary]]:
    """Feed everything in batches, then close every pane (as the idle timeout would); the
    last revision of each pane, by start and id, with ``revision`` zeroed (it is an offset:
    runs over different feeds compare by content)."""
    aggregator = PartitionAggregator("telemetry", partition, rules)
    feed = records(events)
    latest: dict[str, PaneSummary] = {}
    for start in range(0, len(feed), batch):
        aggregator.process(feed[start : start + batch], now_ms=0.0)
        latest.update(_summaries(aggregator.take()[0]))
    aggregator.close_idle(now_ms=float(rules.idle_timeout_ms))
    latest.update(_summaries(aggregator.take()[0]))
    panes = sorted(latest.values(), key=lambda p: (p.start_ms, p.pane_id))
    return aggregator, [pane.model_copy(update={"revision": 0}) for pane in panes]


def _summaries(panes: Sequence[ClosedPane]) -> dict[str, PaneSummary]:
    return {p.pane_id: PaneSummary.model_validate_json(p.value) for p in panes}
