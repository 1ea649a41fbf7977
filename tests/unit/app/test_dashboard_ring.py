"""The dashboard's ring: a pane becomes numbers, revisions replace, the bound holds."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.dashboard.ring import (
    FIELDS,
    PaneRing,
    RevisedPane,
    ScopeRing,
    pane_row,
    sketch_quantiles,
)
from schemas.panes import LatencySketch, PaneSummary, Scope
from schemas.sketch import MergedSketch, Sketch

ENDPOINT = Scope(service="chat-api", dimension="endpoint", key="POST /api/message")


def pane(
    start_ms: int,
    scope: Scope = ENDPOINT,
    partition: int = 0,
    latencies: tuple[float, ...] = (50.0, 80.0, 120.0, 900.0),
    errors: int = 0,
    **extra: Any,
) -> PaneSummary:
    sketch = Sketch()
    sketch.extend(latencies)
    fields: dict[str, Any] = {
        "pane_id": PaneSummary.make_id(scope, start_ms, partition),
        "scope": scope,
        "start_ms": start_ms,
        "end_ms": start_ms + 1000,
        "partition": partition,
    }
    if scope.dimension == "endpoint":
        fields["requests"] = {
            "count": len(latencies),
            "errors": errors,
            "latency": sketch.to_wire(),
            "min_ms": min(latencies),
            "max_ms": max(latencies),
        }
    return RevisedPane.model_validate({**fields, **extra})


@given(
    st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=300),
    st.sampled_from([0.0, 0.5, 0.95, 0.99, 1.0]),
)
def test_one_sketch_quantiles_read_as_the_window_merge_reads_them(
    values: list[float], q: float
) -> None:
    sketch = Sketch()
    sketch.extend(values)
    wire = LatencySketch.model_validate(sketch.to_wire())
    assert sketch_quantiles(wire, [q]) == [MergedSketch([wire]).quantile(q)]


def test_an_endpoint_pane_keeps_counts_and_its_clamped_percentiles() -> None:
    latencies = tuple(float(n) for n in range(1, 101))
    row = pane_row(pane(0, latencies=latencies, errors=7))
    requests, errors, p50, p95, p99 = row
    assert (requests, errors) == (100.0, 7.0)
    # lower-rank percentiles of 1..100 are 50, 95, 99, within the sketch's 1 %
    assert p50 == pytest.approx(50, rel=0.01)
    assert p95 == pytest.approx(95, rel=0.01)
    assert p99 == pytest.approx(99, rel=0.01)
    assert pane_row(pane(0, latencies=(5.0,)))[2:] == (5.0, 5.0, 5.0)  # clamped to min/max


def test_readings_of_other_dimensions() -> None:
    host = Scope(service="s", dimension="host", key="web-1")
    row = pane_row(pane(0, host, resource={"samples": 2, "cpu_max": 91.5, "mem_max": 40.0}))
    assert row == (91.5, 40.0)
    queue = Scope(service="s", dimension="queue", key="q")
    row = pane_row(
        pane(0, queue, queue={"samples": 3, "depth_first": 1, "depth_last": 9, "depth_max": 12})
    )
    assert row == (9.0, 12.0)
    bot = Scope(service="s", dimension="bot", key="bot-1")
    assert pane_row(pane(0, bot, bot={"last_status": "crashed"})) != pane_row(
        pane(0, bot, bot={"last_status": "online"})
    )
    assert all(math.isnan(x) for x in pane_row(pane(0, host)))  # no reading: NaN, not 0


def test_a_republished_pane_replaces_its_row_only_with_a_higher_revision() -> None:
    ring = PaneRing(capacity=100, max_scopes=10)
    ring.put(pane(1000, errors=0))
    ring.put(pane(2000))
    ring.put(pane(1000, errors=3, revision=1))
    ring.put(pane(1000, errors=1, revision=1))  # the same revision again: a replay
    ring.put(pane(1000, partition=1, errors=2))  # another partition's part: a pane of its own
    scope = ring.get(ENDPOINT)
    assert scope is not None
    window = scope.window(0, 10_000)
    assert window.start_ms.tolist() == [1000, 1000, 2000]
    errors = window.column("errors", "endpoint").tolist()
    assert sorted(errors[:2]) == [2.0, 3.0]
    assert (ring.panes, ring.stale) == (4, 1)


def test_a_scope_ring_keeps_the_newest_capacity_panes_in_time_order() -> None:
    ring = ScopeRing(ENDPOINT, capacity=100)
    starts = list(range(0, 250_000, 1000))
    random.Random(3).shuffle(starts[-20:])  # some arrive out of order
    for start in starts:
        ring.put(start, 0, 0, (1.0, 0.0, 1.0, 2.0, 3.0))
    window = ring.window(0, 10**9)
    assert len(window.start_ms) == 100
    assert window.start_ms.tolist() == sorted(window.start_ms.tolist())
    assert set(window.start_ms.tolist()) == set(starts[-100:])
    assert ring.nbytes == 100 * ring.row_bytes  # grown by doubling, never past the capacity


def test_scopes_beyond_the_bound_evict_the_one_quiet_the_longest() -> None:
    ring = PaneRing(capacity=10, max_scopes=3)
    scopes = [Scope(service="s", dimension="endpoint", key=f"GET /{n}") for n in range(4)]
    for n, scope in enumerate(scopes[:3]):
        ring.put(pane(n * 1000, scope))
    ring.put(pane(5000, scopes[0]))  # scope 0 is fed again: scope 1 is now the quietest
    ring.put(pane(6000, scopes[3]))
    assert [r.scope for r in ring] == [scopes[2], scopes[0], scopes[3]]
    assert ring.evicted == 1
    assert ring.nbytes <= ring.bound_bytes()


def test_the_bound_is_what_full_endpoint_rings_take() -> None:
    ring = PaneRing(capacity=3600, max_scopes=4)
    for n in range(4):
        scope = Scope(service="s", dimension="endpoint", key=f"GET /{n}")
        rows = ring._scope(scope)
        for start in range(3600):
            rows.put(start * 1000, 0, 0, (1.0,) * len(FIELDS["endpoint"]))
    assert ring.nbytes == ring.bound_bytes() == 4 * 3600 * 36


def test_deploys_are_kept_per_service_once_each() -> None:
    ring = PaneRing(capacity=10, max_scopes=10)
    service = Scope(service="chat-api", dimension="service", key="chat-api")
    deploy = {"ts": 12.5, "version": "2.4.0", "status": "succeeded"}
    ring.put(pane(0, service, deploys=[deploy]))
    ring.put(pane(0, service, deploys=[deploy], revision=1))
    assert [d.version for d in ring.deploys("chat-api")] == ["2.4.0"]
