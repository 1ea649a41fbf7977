"""Pane summaries stay small whatever producers send, and say what their caps cut."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.panes import PaneSummary, Truncated
from schemas.telemetry import MAX_LATENCY_MS
from streams.aggregate.panes import MAX_BACKUPS, MAX_DEPLOYS, MAX_TRANSITIONS, MAX_VERSIONS
from streams.aggregate.partition import PaneRules, PartitionAggregator
from tests.unit.streams.aggregate.telemetry_factory import (
    BASE_MS,
    SERVICE,
    records,
    request,
    run_all,
)

RULES = PaneRules(pane_ms=1000, allowed_lateness_ms=0, idle_timeout_ms=1000)


def event(kind: str, ms: int, **payload: Any) -> dict[str, Any]:
    return {"kind": kind, "ts": ms / 1000, "service": SERVICE, **payload}


def only_pane(events: list[dict[str, Any]]) -> PaneSummary:
    _, [pane] = run_all(events, RULES)
    return pane


def published(events: list[dict[str, Any]]) -> bytes:
    """The one pane the events make, as published (bytes)."""
    aggregator = PartitionAggregator("telemetry", 0, RULES)
    aggregator.process(records(events), now_ms=0.0)
    aggregator.close_idle(now_ms=float(RULES.idle_timeout_ms))
    [closed], _ = aggregator.take()
    return closed.value


def test_requests_of_versions_beyond_the_cap_are_counted_as_truncated() -> None:
    extra = 6
    events = [request(BASE_MS + i, version=f"v{i}") for i in range(MAX_VERSIONS + extra)]
    events.append(request(BASE_MS + 999, version=f"v{MAX_VERSIONS}"))  # a cut version again
    pane = only_pane(events)
    assert pane.requests is not None
    assert pane.requests.count == MAX_VERSIONS + extra + 1  # the count stays exact
    assert len(pane.requests.versions) == MAX_VERSIONS
    assert pane.truncated == Truncated(versions=extra + 1)


def test_a_flapping_bot_keeps_the_first_and_last_transitions_and_counts_the_middle() -> None:
    flaps = MAX_TRANSITIONS + 50
    statuses = ("online", "crashed")
    events = [event("bot", BASE_MS + i, bot_id="b1", status=statuses[i % 2]) for i in range(flaps)]
    pane = only_pane(events)
    assert pane.bot is not None
    kept = pane.bot.transitions
    assert len(kept) == MAX_TRANSITIONS
    assert kept[0] == ((BASE_MS + 0) / 1000, "online")
    assert kept[-1] == ((BASE_MS + flaps - 1) / 1000, statuses[(flaps - 1) % 2])
    assert pane.truncated == Truncated(transitions=50)


def test_deploy_events_beyond_the_cap_are_counted_as_truncated() -> None:
    events = [
        event("deploy", BASE_MS + i, version=f"1.{i}", status="started")
        for i in range(MAX_DEPLOYS + 3)
    ]
    pane = only_pane(events)
    assert len(pane.deploys) == MAX_DEPLOYS
    assert pane.truncated == Truncated(deploys=3)


def test_a_pane_within_the_caps_publishes_no_truncated_field() -> None:
    value = published([request(BASE_MS, version="v1")])
    assert "truncated" not in orjson.loads(value)
    assert PaneSummary.model_validate_json(value).truncated == Truncated()


def test_a_pane_published_before_the_field_existed_still_parses() -> None:
    pane = only_pane([request(BASE_MS)])
    old = pane.model_dump(mode="json", exclude={"truncated"})
    assert PaneSummary.model_validate(old).truncated == Truncated()


def test_the_aggregator_counts_what_the_caps_cut_in_its_metrics() -> None:
    events = [
        event("deploy", BASE_MS + i, version=f"1.{i}", status="started")
        for i in range(MAX_DEPLOYS + 2)
    ]
    events += [request(BASE_MS + i, version=f"v{i}") for i in range(MAX_VERSIONS + 1)]
    aggregator, _ = run_all(events, RULES)
    assert aggregator.metrics.snapshot()["truncated"] == {"deploys": 2, "versions": 1}


def test_the_most_distant_latencies_keep_the_pane_small() -> None:
    # The dense sketch wrote every bucket between the two values (~1,900 here; 69.5 KB for
    # 41 ms and 1e300 ms before latency_ms was bounded); run-length writes three entries.
    events = [request(BASE_MS, latency=0.001), request(BASE_MS + 1, latency=MAX_LATENCY_MS)]
    value = published(events)
    assert len(value) < 1000
    pane = PaneSummary.model_validate_json(value)
    assert pane.requests is not None and pane.requests.max_ms == MAX_LATENCY_MS


def _backup(ms: int, backup_id: str, **changes: Any) -> dict[str, Any]:
    fields = {"dataset": "chat_messages", "type": "wal", "status": "succeeded",
              "backup_id": backup_id, "taken_at": (ms - 5_000) / 1000}  # fmt: skip
    return event("backup", ms, **{**fields, **changes})


def test_backups_and_restore_tests_go_to_their_dataset_pane_in_report_order() -> None:
    events = [
        _backup(BASE_MS + 500, "b2", type="full", size_bytes=4096, location="s3://b/b2"),
        _backup(BASE_MS + 100, "b1", status="failed"),
        event(
            "restore_test",
            BASE_MS + 700,
            backup_id="b0",
            dataset="chat_messages",
            ok=True,
            duration_s=42.5,
            environment="staging",
        ),
    ]
    pane = only_pane(events)
    assert (pane.scope.dimension, pane.scope.key) == ("dataset", "chat_messages")
    assert [(b.backup_id, b.type, b.status) for b in pane.backups] == [
        ("b1", "wal", "failed"),
        ("b2", "full", "succeeded"),
    ]
    assert pane.backups[1].taken_at == (BASE_MS + 500 - 5_000) / 1000
    assert (pane.backups[1].size_bytes, pane.backups[1].location) == (4096, "s3://b/b2")
    [test] = pane.restore_tests
    assert (test.backup_id, test.ok, test.duration_s, test.environment) == (
        "b0", True, 42.5, "staging"
    )  # fmt: skip


def test_panes_without_backups_publish_neither_list() -> None:
    value = orjson.loads(published([request(BASE_MS)]))
    assert "backups" not in value and "restore_tests" not in value


def test_backup_events_beyond_the_cap_are_counted_as_truncated() -> None:
    events = [_backup(BASE_MS + i, f"b{i}") for i in range(MAX_BACKUPS + 4)]
    pane = only_pane(events)
    assert len(pane.backups) == MAX_BACKUPS
    assert pane.truncated == Truncated(backups=4)
