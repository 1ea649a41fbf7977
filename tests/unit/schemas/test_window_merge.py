"""merge_panes over stage-1 panes equals a brute-force computation over the raw events.

Random valid events of every kind, in random (out-of-order) arrival, go through the pure
partition aggregator; the panes it publishes are merged over a random window and compared
with an exact computation over the events of that window: counts exactly, percentiles within
the sketch's relative-error guarantee of the exact lower-rank percentile.

With several services spread over several partitions (a producer that does not key by
service), one scope's pane is published as partial panes, one per partition. Counts, sums,
maxima and percentiles still merge exactly (within the sketch's guarantee); readings ordered
by event time (the last CPU, the first and last queue depth and its slope, bot transitions,
the latest integrity detail) are only exact when a scope's events share one partition,
which keying by service guarantees: a partial pane keeps no event times for them.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.panes import DeployRecord, PaneSummary, Scope
from schemas.sketch import ALPHA, MIN_VALUE, quantile_rank
from schemas.window import WindowStats, least_squares_slope, merge_panes
from streams.aggregate.partition import PaneRules
from tests.unit.streams.aggregate.telemetry_factory import (
    BASE_MS,
    SERVICE,
    event_ms,
    request,
    run_all,
    telemetry,
)

PANE_MS = 250
RULES = PaneRules(pane_ms=PANE_MS, allowed_lateness_ms=60_000, idle_timeout_ms=1000)

Indexed = list[tuple[int, int, dict[str, Any]]]  # (event ms, arrival, event)


def scope_of(event: dict[str, Any]) -> Scope:
    kind, service = event["kind"], event["service"]
    if kind in ("request", "log") and "endpoint" in event:
        return Scope(service=service, dimension="endpoint", key=event["endpoint"])
    natural = {"resource": ("host", "host"), "queue": ("queue", "queue"),
               "bot": ("bot", "bot_id"), "integrity": ("check", "check")}  # fmt: skip
    if kind in natural:
        dimension, field = natural[kind]
        return Scope(service=service, dimension=dimension, key=event[field])
    return Scope(service=service, dimension="service", key=service)


def in_window(events: list[dict[str, Any]], scope: Scope, start: int, end: int) -> Indexed:
    chosen = [
        (event_ms(e), arrival, e)
        for arrival, e in enumerate(events)
        if scope_of(e) == scope and start <= event_ms(e) < end
    ]
    return sorted(chosen, key=lambda item: (item[0], item[1]))  # event time, then arrival


def of_kind(chosen: Indexed, kind: str, field: str | None = None) -> Indexed:
    return [c for c in chosen if c[2]["kind"] == kind and (field is None or field in c[2])]


def check_requests(window: WindowStats, chosen: Indexed, seconds: float) -> None:
    requests = [e for _, _, e in of_kind(chosen, "request")]
    latencies = [float(e["latency_ms"]) for e in requests]
    errors = sum(1 for e in requests if e["status"] >= 500)
    assert (window.requests, window.errors) == (len(requests), errors)
    assert window.rps == pytest.approx(len(requests) / seconds)
    versions: dict[str, int] = {}
    for e in requests:
        if "version" in e:
            versions[e["version"]] = versions.get(e["version"], 0) + 1
    assert window.versions == versions
    if not requests:
        assert window.error_rate is None and window.p95_ms is None
        return
    assert window.error_rate == errors / len(requests)
    assert (window.min_ms, window.max_ms) == (min(latencies), max(latencies))
    for q, estimate in ((0.5, window.p50_ms), (0.95, window.p95_ms), (0.99, window.p99_ms)):
        truth = sorted(latencies)[quantile_rank(q, len(latencies))]
        assert estimate is not None
        assert abs(estimate - truth) <= ALPHA * truth * (1 + 1e-9) + MIN_VALUE, (q, truth)


def check_logs(window: WindowStats, chosen: Indexed) -> None:
    logs = [e for _, _, e in of_kind(chosen, "log")]
    assert window.logs == len(logs)
    assert window.log_errors == sum(1 for e in logs if e["level"] in ("error", "critical"))


def check_resources(window: WindowStats, chosen: Indexed, ordered: bool = True) -> None:
    assert window.resource_samples == len(of_kind(chosen, "resource"))
    for field, last, top in (("cpu_pct", window.cpu_last, window.cpu_max),
                             ("mem_pct", window.mem_last, window.mem_max)):  # fmt: skip
        readings = [e[field] for _, _, e in of_kind(chosen, "resource", field)]
        assert top == (max(readings) if readings else None)
        if ordered:
            assert last == (readings[-1] if readings else None)


def check_queues(window: WindowStats, chosen: Indexed, ordered: bool = True) -> None:
    samples = of_kind(chosen, "queue")
    assert window.queue_samples == len(samples)
    if not samples:
        assert window.queue_depth_last is None and window.queue_slope is None
        return
    assert window.queue_depth_max == max(e["depth"] for _, _, e in samples)
    if not ordered:
        return
    assert window.queue_depth_first == samples[0][2]["depth"]
    assert window.queue_depth_last == samples[-1][2]["depth"]
    last_per_pane = {ms - ms % PANE_MS: (ms / 1000, float(e["depth"])) for ms, _, e in samples}
    expected = least_squares_slope(list(last_per_pane.values()))
    if expected is None:
        assert window.queue_slope is None
    else:
        assert window.queue_slope == pytest.approx(expected, rel=1e-6, abs=1e-6)


def check_bots(window: WindowStats, chosen: Indexed) -> None:
    transitions: list[tuple[float, str]] = []
    for _, _, e in of_kind(chosen, "bot"):
        if not transitions or transitions[-1][1] != e["status"]:
            transitions.append((e["ts"], e["status"]))
    assert window.bot_transitions == tuple(transitions)
    assert window.bot_status == (transitions[-1][1] if transitions else None)
    assert window.bot_crashes == sum(1 for _, s in transitions if s == "crashed")


def check_integrity_deploys(window: WindowStats, chosen: Indexed, ordered: bool = True) -> None:
    checks = [e for _, _, e in of_kind(chosen, "integrity")]
    failures = [e for e in checks if not e["ok"]]
    explained = [e["detail"] for e in failures if "detail" in e]
    assert (window.integrity_checks, window.integrity_failures) == (len(checks), len(failures))
    deploys = [DeployRecord(ts=e["ts"], version=e["version"], status=e["status"])
               for _, _, e in of_kind(chosen, "deploy")]  # fmt: skip
    if ordered:
        assert window.integrity_detail == (explained[-1] if explained else None)
        assert list(window.deploys) == deploys
    else:  # equal event times from two partitions come in pane order, not arrival order
        assert sorted(window.deploys, key=repr) == sorted(deploys, key=repr)


# Kinds drawn in groups so that each group gets dense data (many requests for percentiles,
# several gauge samples across panes for last/max/slope), plus the full mix.
KIND_GROUPS = (("request",), ("resource", "queue"), ("log", "bot", "integrity", "deploy"))


@st.composite
def mixed_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    kinds = draw(st.sampled_from((*KIND_GROUPS, None)))
    size = draw(st.integers(1, 150))  # drawn first: hypothesis keeps free-sized lists short
    element = telemetry() if kinds is None else telemetry(kinds)
    return draw(st.lists(element, min_size=size, max_size=size))


@settings(max_examples=200, deadline=None)
@given(events=mixed_events(), first=st.integers(0, 7), length=st.integers(1, 8))
def test_merged_window_equals_brute_force(
    events: list[dict[str, Any]], first: int, length: int
) -> None:
    _, panes = run_all(list(events), RULES)
    start = BASE_MS + first * PANE_MS
    end = start + length * PANE_MS
    for scope in {scope_of(e) for e in events}:
        window = merge_panes(scope, panes, start, end)
        chosen = in_window(events, scope, start, end)
        assert window.panes == len({ms - ms % PANE_MS for ms, _, _ in chosen})
        check_requests(window, chosen, (end - start) / 1000)
        check_logs(window, chosen)
        check_resources(window, chosen)
        check_queues(window, chosen)
        check_bots(window, chosen)
        check_integrity_deploys(window, chosen)


def test_duplicate_panes_are_merged_once() -> None:
    _, panes = run_all([request(BASE_MS + i) for i in range(10)], RULES)
    scope = panes[0].scope
    window = merge_panes(scope, panes + panes, BASE_MS, BASE_MS + 1000)
    assert window.requests == 10


def test_panes_outside_the_window_or_of_another_scope_are_ignored() -> None:
    events = [request(BASE_MS + 100), request(BASE_MS + 600), request(BASE_MS + 900)]
    _, panes = run_all(events, RULES)
    window = merge_panes(panes[0].scope, panes, BASE_MS + 250, BASE_MS + 750)
    assert (window.requests, window.panes) == (1, 1)
    other = Scope(service=SERVICE, dimension="endpoint", key="GET /elsewhere")
    assert merge_panes(other, panes, BASE_MS, BASE_MS + 1000) == WindowStats(
        other, BASE_MS, BASE_MS + 1000
    )


def test_partial_panes_from_several_partitions_add_up() -> None:
    # A producer that does not key by service spreads one scope over partitions: each
    # partition publishes a partial pane with its own pane_id, and the window sums them.
    _, panes = run_all([request(BASE_MS + 10, latency=5.0)], RULES)
    pane = panes[0]
    other = PaneSummary.model_validate(
        {
            **pane.model_dump(),
            "partition": 1,
            "pane_id": PaneSummary.make_id(pane.scope, pane.start_ms, 1),
        }
    )
    window = merge_panes(pane.scope, [pane, other], BASE_MS, BASE_MS + 1000)
    assert (window.requests, window.panes) == (2, 2)


def test_a_queue_growing_by_ten_per_second_has_slope_ten() -> None:
    events = [
        {"kind": "queue", "ts": (BASE_MS + i * 250) / 1000, "service": SERVICE,
         "queue": "jobs", "depth": 100 + int(2.5 * i)}
        for i in range(8)
    ]  # fmt: skip
    _, panes = run_all(events, RULES)
    window = merge_panes(panes[0].scope, panes, BASE_MS, BASE_MS + 2000)
    assert window.queue_slope == pytest.approx(10.0, rel=0.05)
    assert (window.queue_depth_first, window.queue_depth_last) == (100, 117)


# --- several services over several partitions ----------------------------------------------

SERVICES = (SERVICE, "search-api", "bot-runner")
PARTITIONS = 3


@st.composite
def spread_events(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int]]:
    """Events of several services and the partition each was produced to: by service (a
    keyed producer) or at random (an unkeyed one, which splits every scope's panes)."""
    events = draw(mixed_events())
    services = draw(st.lists(st.sampled_from(SERVICES), min_size=len(events), max_size=len(events)))
    keyed = draw(st.booleans())
    if keyed:
        partitions = [SERVICES.index(service) % PARTITIONS for service in services]
    else:
        partitions = draw(st.lists(st.integers(0, PARTITIONS - 1), min_size=len(events),
                                   max_size=len(events)))  # fmt: skip
    spread = [
        {**event, "service": service} for event, service in zip(events, services, strict=True)
    ]
    return spread, partitions


def run_partitions(events: list[dict[str, Any]], partitions: list[int]) -> list[PaneSummary]:
    """Each partition's events, in arrival order, through its own partition aggregator."""
    panes: list[PaneSummary] = []
    for partition in sorted(set(partitions)):
        mine = [e for e, p in zip(events, partitions, strict=True) if p == partition]
        panes.extend(run_all(mine, RULES, partition=partition)[1])
    return panes


@settings(max_examples=200, deadline=None)
@given(spread=spread_events(), first=st.integers(0, 7), length=st.integers(1, 8))
def test_merged_window_of_partial_panes_equals_brute_force(
    spread: tuple[list[dict[str, Any]], list[int]], first: int, length: int
) -> None:
    events, partitions = spread
    panes = run_partitions(events, partitions)
    start = BASE_MS + first * PANE_MS
    end = start + length * PANE_MS
    for scope in {scope_of(e) for e in events}:
        window = merge_panes(scope, panes, start, end)
        chosen = in_window(events, scope, start, end)
        sources = {(ms - ms % PANE_MS, partitions[arrival]) for ms, arrival, _ in chosen}
        assert window.panes == len(sources)  # one partial pane per (pane, partition)
        one_partition = len({partition for _, partition in sources}) <= 1
        check_requests(window, chosen, (end - start) / 1000)
        check_logs(window, chosen)
        check_resources(window, chosen, ordered=one_partition)
        check_queues(window, chosen, ordered=one_partition)
        if one_partition:
            check_bots(window, chosen)
        check_integrity_deploys(window, chosen, ordered=one_partition)
