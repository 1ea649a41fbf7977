"""One partition's aggregation: event time, lateness, dead letters, checkpoints and replay."""

from __future__ import annotations

import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.panes import PaneSummary
from streams.aggregate.checkpoint import Checkpoint, decode_checkpoint, encode_checkpoint
from streams.aggregate.deadletter import DeadLetter
from streams.aggregate.partition import ClosedPane, PaneRules, PartitionAggregator
from tests.unit.streams.aggregate.telemetry_factory import (
    BASE_MS,
    FakeRecord,
    event_ms,
    records,
    request,
    run_all,
    telemetry,
)

RULES = PaneRules(pane_ms=100, allowed_lateness_ms=300, idle_timeout_ms=1000)


def letters_of(aggregator: PartitionAggregator) -> list[DeadLetter]:
    return aggregator.take()[1]


def headers(letter: DeadLetter) -> dict[str, str]:
    return {k: v.decode() for k, v in letter.headers}


# --- event time -----------------------------------------------------------------------------


def late_by_rule(times: list[tuple[int, int]]) -> int:
    """The lateness rule, brute force, over (event ms, watermark mark ms) in offset order: an
    event is late iff its pane ended at or before the highest mark before it minus the
    lateness; an accepted event raises the mark (its event time, capped at broker time)."""
    late, high = 0, None
    for ms, mark in times:
        end = ms - ms % RULES.pane_ms + RULES.pane_ms
        if high is not None and end <= high - RULES.allowed_lateness_ms:
            late += 1
        else:
            high = mark if high is None else max(high, mark)
    return late


def test_out_of_order_events_within_lateness_all_land_in_their_panes() -> None:
    times = [BASE_MS + t for t in (250, 10, 390, 120, 5, 330, 260)]  # spread < lateness
    aggregator, panes = run_all([request(ms) for ms in times], RULES)
    assert sum(p.requests.count for p in panes if p.requests) == len(times)
    assert {p.start_ms - BASE_MS for p in panes} == {0, 100, 200, 300}
    assert not aggregator.metrics.dead_letters


def test_a_pane_fires_on_time_when_the_watermark_passes_its_end() -> None:
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process(records([request(BASE_MS + 50)]), now_ms=0)
    aggregator.process(records([request(BASE_MS + 99)], first_offset=1), now_ms=0)
    assert aggregator.take()[0] == []  # watermark 99: pane [0, 100) still filling
    aggregator.process(records([request(BASE_MS + 100)], first_offset=2), now_ms=0)
    [fired], _ = aggregator.take()  # watermark 100 = the pane's end: published at once
    summary = orjson.loads(fired.value)
    assert (summary["start_ms"], summary["requests"]["count"]) == (BASE_MS, 2)
    assert summary["revision"] == fired.revision == 2  # the last offset handled
    assert dict(fired.headers)["revision"] == b"2"
    assert aggregator.metrics.panes == 1 and aggregator.metrics.refinements == 0


def test_late_events_within_the_lateness_make_one_accumulating_refinement() -> None:
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process(records([request(BASE_MS + 50), request(BASE_MS + 120)]), now_ms=0)
    [on_time], _ = aggregator.take()
    late = [request(BASE_MS + 60, status=503), request(BASE_MS + 70)]
    aggregator.process(records(late, first_offset=2), now_ms=0)
    aggregator.process(records([request(BASE_MS + 130)], first_offset=4), now_ms=0)
    [refined], _ = aggregator.take()  # one revision for both late events
    before, after = orjson.loads(on_time.value), orjson.loads(refined.value)
    assert refined.pane_id == on_time.pane_id and refined.revision > on_time.revision
    assert before["requests"]["count"] == 1
    assert (after["requests"]["count"], after["requests"]["errors"]) == (3, 1)
    assert aggregator.metrics.refinements == 1 and aggregator.metrics.panes == 1


def test_a_pane_without_late_events_is_never_published_again() -> None:
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process(records([request(BASE_MS + 50), request(BASE_MS + 100)]), now_ms=0)
    [fired], _ = aggregator.take()
    later = [request(BASE_MS + 100 + 50 * i) for i in range(1, 12)]  # closes [0, 100) too
    aggregator.process(records(later, first_offset=2), now_ms=0)
    aggregator.close_idle(float(RULES.idle_timeout_ms))
    panes, _ = aggregator.take()
    assert fired.pane_id not in {p.pane_id for p in panes}
    assert aggregator.metrics.refinements == 0


def test_a_late_event_for_a_closed_pane_refines_nothing() -> None:
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process(records([request(BASE_MS + 50), request(BASE_MS + 400)]), now_ms=0)
    aggregator.take()  # [0, 100) fired and closed: watermark 400 - lateness 300 = 100
    aggregator.process(records([request(BASE_MS + 60)], first_offset=2), now_ms=0)
    panes, [letter] = aggregator.take()
    assert panes == [] and headers(letter)["dlq.code"] == "late"


def test_a_late_event_is_dead_lettered_with_reason_late_not_dropped() -> None:
    events = [request(BASE_MS + 50), request(BASE_MS + 1000), request(BASE_MS + 60)]
    aggregator = PartitionAggregator("telemetry", 4, RULES)
    aggregator.process(records(events), now_ms=0)
    panes, [letter] = aggregator.take()
    assert [orjson.loads(p.value)["requests"]["count"] for p in panes] == [1]  # not 2
    assert letter.value == orjson.dumps(events[2]) and letter.key == b"chat-api"
    meta = headers(letter)
    assert meta["dlq.code"] == "late" and meta["dlq.reason"].startswith("late: ")
    assert (meta["dlq.topic"], meta["dlq.partition"], meta["dlq.offset"]) == ("telemetry", "4", "2")
    assert aggregator.metrics.dead_letters["late"] == 1


@settings(max_examples=150, deadline=None)
@given(st.lists(telemetry(), min_size=1, max_size=80))
def test_every_event_is_counted_once_in_a_pane_or_dead_lettered_as_late(
    events: list[dict[str, Any]],
) -> None:
    aggregator, panes = run_all(events, RULES)
    late = aggregator.metrics.dead_letters["late"]
    assert late == late_by_rule([(event_ms(e), event_ms(e)) for e in events])
    assert aggregator.metrics.accepted + late == len(events)
    assert len({p.pane_id for p in panes}) == len(panes)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(telemetry(), st.integers(-800, 800)), min_size=1, max_size=80))
def test_late_is_judged_against_event_time_capped_at_broker_time(
    stamped: list[tuple[dict[str, Any], int]],
) -> None:
    """Each record's broker timestamp is its event time ± 0.8 s (inside the skew)."""
    feed = [
        FakeRecord(i, orjson.dumps(e), timestamp=event_ms(e) + delta)
        for i, (e, delta) in enumerate(stamped)
    ]
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process(feed, now_ms=0)
    marks = [(event_ms(e), min(event_ms(e), event_ms(e) + delta)) for e, delta in stamped]
    expected_late = late_by_rule(marks)
    assert aggregator.metrics.dead_letters["late"] == expected_late
    assert aggregator.metrics.accepted + expected_late == len(stamped)


def test_a_quiet_partition_closes_its_panes_after_the_idle_timeout() -> None:
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process(records([request(BASE_MS + 10)]), now_ms=5_000)
    assert not aggregator.close_idle(now_ms=5_999)
    assert aggregator.close_idle(now_ms=6_000)
    assert len(aggregator.take()[0]) == 1
    # The pane is closed for good: an event for it now is late, not a second pane.
    aggregator.process(records([request(BASE_MS + 20)], first_offset=1), now_ms=6_001)
    panes, [letter] = aggregator.take()
    assert panes == [] and headers(letter)["dlq.code"] == "late"


def test_a_fast_producer_clock_does_not_make_the_on_time_events_late() -> None:
    """One event 30 s ahead of the broker (inside the 60 s skew), then 100 on time: the early
    one lands in its own pane, the watermark follows the broker's clock, nothing is late."""
    broker_ms = BASE_MS + 10_000
    ahead = FakeRecord(0, orjson.dumps(request(broker_ms + 30_000)), timestamp=broker_ms)
    on_time = [
        FakeRecord(1 + i, orjson.dumps(request(broker_ms + i - 50)), timestamp=broker_ms + i)
        for i in range(100)
    ]
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process([ahead, *on_time], now_ms=0)
    # The early event counted as its broker time, so the latest on-time event leads.
    assert aggregator.time.max_event_ms == broker_ms + 49
    aggregator.close_idle(now_ms=float(RULES.idle_timeout_ms))
    panes, letters = aggregator.take()
    summaries = [PaneSummary.model_validate_json(p.value) for p in panes]
    assert letters == [] and not aggregator.metrics.dead_letters
    assert aggregator.metrics.accepted == 101
    assert sum(s.requests.count for s in summaries if s.requests) == 101
    assert broker_ms + 30_000 in {s.start_ms for s in summaries}  # the early event's own pane


def test_the_watermark_still_follows_event_time_behind_the_broker() -> None:
    # Events an hour behind their message timestamps (a backlog): the cap never binds.
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process(records([request(BASE_MS + 10), request(BASE_MS + 500)]), now_ms=0)
    assert aggregator.time.max_event_ms == BASE_MS + 500
    [closed], _ = aggregator.take()
    assert orjson.loads(closed.value)["start_ms"] == BASE_MS


# --- validation and dead letters ------------------------------------------------------------


BAD: list[tuple[bytes, str]] = [
    (b"{not json", "not_json"),
    (b"[1, 2]", "invalid:event:type"),
    (orjson.dumps({**request(BASE_MS), "status": 600}), "invalid:status:range"),
    (orjson.dumps({**request(BASE_MS), "latency_ms": -1}), "invalid:latency_ms:range"),
    (orjson.dumps({**request(BASE_MS), "latency_ms": 1e300}), "invalid:latency_ms:range"),
    (orjson.dumps({**request(BASE_MS), "status": "503"}), "invalid:status:type"),
    (orjson.dumps({k: v for k, v in request(BASE_MS).items() if k != "endpoint"}),
     "invalid:endpoint:missing"),
    (orjson.dumps({**request(BASE_MS), "status": "oops"}), "invalid:status:type"),
    (orjson.dumps({**request(BASE_MS), "v": 2}), "invalid:v:value"),
    (orjson.dumps({**request(BASE_MS), "kind": "metric"}), "invalid:kind:value"),
    (orjson.dumps(request(BASE_MS + 3_600_000 + 60_001)), "future_ts"),
    (orjson.dumps({**request(BASE_MS), "ts": 1e300}), "invalid:ts:value"),  # not a crash
    (orjson.dumps({**request(BASE_MS), "ts": 2.6e20}), "invalid:ts:value"),  # > year 9999 in ns
]  # fmt: skip


def test_each_malformed_message_is_one_dead_letter_with_its_reason() -> None:
    feed = records([bad for bad, _ in BAD])
    aggregator = PartitionAggregator("telemetry", 0, RULES)
    aggregator.process(feed, now_ms=0)
    letters = letters_of(aggregator)
    assert [headers(d)["dlq.code"] for d in letters] == [code for _, code in BAD]
    assert [d.value for d in letters] == [bad for bad, _ in BAD]
    assert all(headers(d)["dlq.reason"] for d in letters)
    assert headers(letters[2])["dlq.field"] == "status"
    for letter in letters:  # a schema error's reason starts with the field it names
        code = headers(letter)["dlq.code"]
        if code.startswith("invalid:") and code != "invalid:event:type":
            assert headers(letter)["dlq.reason"].startswith(code.split(":")[1] + ": ")


def test_an_oversize_message_is_a_truncated_dead_letter_that_says_its_size() -> None:
    huge = b'{"kind": "request", "pad": "' + b"x" * 2_000_000 + b'"'  # not even JSON
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process([FakeRecord(0, huge)], now_ms=0)
    [letter] = letters_of(aggregator)
    meta = headers(letter)
    assert meta["dlq.code"] == "not_json" and meta["dlq.truncated"] == str(len(huge))
    assert letter.value == huge[: len(letter.value or b"")] and len(letter.value or b"") < 1e6


def test_an_empty_message_is_a_dead_letter_not_a_crash() -> None:
    aggregator = PartitionAggregator("t", 0, RULES)
    aggregator.process([FakeRecord(0, None)], now_ms=0)
    [letter] = letters_of(aggregator)
    assert letter.value is None and headers(letter)["dlq.code"] == "not_json"


@settings(max_examples=60, deadline=None)
@given(st.lists(telemetry(), min_size=10, max_size=80), st.randoms(use_true_random=False))
def test_ten_percent_garbage_leaves_the_good_panes_unchanged(
    events: list[dict[str, Any]], rnd: random.Random
) -> None:
    _, clean_panes = run_all(list(events), RULES)
    mixed: list[dict[str, Any] | bytes] = list(events)
    garbage = [bad for bad, code in BAD if code != "future_ts"]
    count = max(1, len(events) // 10)
    for _ in range(count):
        mixed.insert(rnd.randrange(len(mixed) + 1), rnd.choice(garbage))
    aggregator, dirty_panes = run_all(mixed, RULES)
    assert dirty_panes == clean_panes  # by content: the revisions are offsets
    invalid = {k: v for k, v in aggregator.metrics.dead_letters.items() if k != "late"}
    assert sum(invalid.values()) == count


# --- checkpoints and exactly-once replay ----------------------------------------------------


def test_checkpoint_round_trips_through_commit_metadata() -> None:
    checkpoint = Checkpoint(
        processed_to=41, max_event_ms=BASE_MS, closed_before=BASE_MS - 5, fired_before=BASE_MS
    )
    text = encode_checkpoint(checkpoint)
    assert len(text.encode()) < 200
    assert decode_checkpoint(text) == checkpoint
    assert decode_checkpoint("") is None and decode_checkpoint("something else") is None


def test_a_version_1_checkpoint_fires_the_panes_it_left_open() -> None:
    """Before on-time firing, panes were published only when closed: those still open at a
    version-1 checkpoint were never published, so they fire after the upgrade."""
    old = f'{{"v":1,"to":0,"max":{BASE_MS + 150},"closed":{BASE_MS - 150}}}'
    checkpoint = decode_checkpoint(old)
    assert checkpoint is not None and checkpoint.fired_before == BASE_MS - 150
    successor = PartitionAggregator("t", 0, RULES, checkpoint, 0)
    successor.process(records([request(BASE_MS + 50), request(BASE_MS + 150)]), now_ms=0)
    [fired], _ = successor.take()  # [0, 100) had not been published: it fires now
    assert orjson.loads(fired.value)["requests"]["count"] == 1


def test_commit_point_is_the_earliest_offset_still_in_an_open_pane() -> None:
    aggregator = PartitionAggregator("t", 0, RULES)
    events = [request(BASE_MS + 10), request(BASE_MS + 500), request(BASE_MS + 520)]
    aggregator.process(records(events, first_offset=100), now_ms=0)
    offset, checkpoint = aggregator.commit_point() or (None, None)
    # Pane [0,100) closed (watermark 220); the open ones began at offset 101.
    assert offset == 101
    assert checkpoint == Checkpoint(102, BASE_MS + 520, BASE_MS + 220, BASE_MS + 520)


Published = dict[str, list[tuple[int, bytes]]]  # pane id -> its revisions, in order


def commit(aggregator: PartitionAggregator, out: Published, letters: list[bytes]) -> None:
    panes, dead = aggregator.take()
    for pane in panes:
        out.setdefault(pane.pane_id, []).append((pane.revision, pane.value))
    letters.extend(d.value or b"" for d in dead)


def final(published: Published) -> dict[str, PaneSummary]:
    """The last revision of each pane, by content (``revision`` is an offset, zeroed)."""
    return {
        pane_id: PaneSummary.model_validate_json(revisions[-1][1]).model_copy(
            update={"revision": 0}
        )
        for pane_id, revisions in published.items()
    }


def assert_revisions_in_order(published: Published) -> None:
    """Each revision once, higher than the one before, counting no less (accumulating)."""
    for pane_id, revisions in published.items():
        numbers = [n for n, _ in revisions]
        assert numbers == sorted(set(numbers)), f"{pane_id}: revisions {numbers}"
        counts = [_events_in(PaneSummary.model_validate_json(v)) for _, v in revisions]
        assert counts == sorted(counts), f"{pane_id}: counts {counts}"


def _events_in(pane: PaneSummary) -> int:
    """Events a pane counts (bots aside: their transitions collapse repeats)."""
    counts = (
        pane.requests.count if pane.requests else 0,
        pane.logs.total if pane.logs else 0,
        pane.resource.samples if pane.resource else 0,
        pane.queue.samples if pane.queue else 0,
        pane.integrity.checks if pane.integrity else 0,
        len(pane.deploys),
    )
    return sum(counts)


@settings(max_examples=120, deadline=None)
@given(
    events=st.lists(telemetry(), min_size=1, max_size=60),
    garbage=st.lists(st.integers(0, 60), max_size=4),
    cuts=st.lists(st.integers(0, 70), max_size=8),
    crashes=st.lists(st.tuples(st.integers(0, 70), st.integers(0, 70)), min_size=1, max_size=3),
)
def test_a_crash_at_any_point_and_restart_publishes_exactly_what_one_run_does(
    events: list[dict[str, Any]],
    garbage: list[int],
    cuts: list[int],
    crashes: list[tuple[int, int]],
) -> None:
    """A worker commits at random points and dies at random points; its successor starts
    from the last commit. Together they publish every pane with the final content an
    uninterrupted worker publishes, each revision once and in order (a refinement never
    counts an event twice), and each dead letter exactly once."""
    mixed: list[dict[str, Any] | bytes] = list(events)
    for at in sorted(garbage, reverse=True):
        mixed.insert(min(at, len(mixed)), b"garbage")
    feed = records(mixed)
    once: Published = {}
    once_letters: list[bytes] = []
    _, expected = run_all(mixed, RULES)
    reference = PartitionAggregator("t", 0, RULES)
    reference.process(feed, 0)
    reference.close_idle(float(RULES.idle_timeout_ms))
    commit(reference, once, once_letters)

    published: Published = {}
    letters: list[bytes] = []
    committed: tuple[int, Checkpoint] | None = None
    for crash_at, commit_every in crashes:  # each life: process some, commit some, die
        offset = committed[0] if committed else None
        worker = PartitionAggregator("t", 0, RULES, committed[1] if committed else None, offset)
        position = offset or 0
        while position < min(crash_at, len(feed)):
            step = max(1, commit_every % 9)
            worker.process(feed[position : position + step], 0)
            position += step
            if position in cuts or step % 2:  # commit here
                commit(worker, published, letters)
                committed = worker.commit_point()
        # dies: whatever was not committed is lost
    offset = committed[0] if committed else None
    last = PartitionAggregator("t", 0, RULES, committed[1] if committed else None, offset)
    last.process(feed[offset or 0 :], 0)
    last.close_idle(float(RULES.idle_timeout_ms))
    commit(last, published, letters)

    assert_revisions_in_order(published)
    assert final(published) == final(once)
    assert sorted(letters) == sorted(once_letters)
    assert sorted(final(once).values(), key=lambda p: (p.start_ms, p.pane_id)) == expected


def test_replayed_records_are_not_dead_lettered_again() -> None:
    worker = PartitionAggregator("t", 0, RULES)
    worker.process(records([request(BASE_MS + 10), b"garbage", request(BASE_MS + 20)]), 0)
    assert len(worker.take()[1]) == 1
    offset, checkpoint = worker.commit_point() or (0, None)
    assert offset == 0  # the pane of offset 0 is still open
    successor = PartitionAggregator("t", 0, RULES, checkpoint, offset)
    successor.process(records([request(BASE_MS + 10), b"garbage", request(BASE_MS + 20)]), 0)
    successor.close_idle(float(RULES.idle_timeout_ms))
    panes, letters = successor.take()
    assert letters == []
    assert [orjson.loads(p.value)["requests"]["count"] for p in panes] == [2]
    assert successor.metrics.replayed == 3


def test_replayed_records_are_counted_as_replayed_only() -> None:
    first = [request(BASE_MS + 10), b"garbage", request(BASE_MS + 20)]
    worker = PartitionAggregator("t", 0, RULES)
    worker.process(records(first), 0)
    assert (worker.metrics.events, worker.metrics.accepted) == (3, 2)
    offset, checkpoint = worker.commit_point() or (0, None)
    successor = PartitionAggregator("t", 0, RULES, checkpoint, offset)
    fresh = [request(BASE_MS + 30), request(BASE_MS + 40), b"more garbage"]
    successor.process(records([*first, *fresh]), 0)  # the first three again, then new ones
    metrics = successor.metrics
    assert (metrics.events, metrics.accepted, metrics.replayed) == (3, 2, 3)
    assert metrics.dead_letters == {"not_json": 1}  # the new garbage, not the replayed one
    # Summed over both lives, every record counts once.
    assert worker.metrics.events + metrics.events == len(first) + len(fresh)


def test_a_closed_pane_is_keyed_by_scope_and_partitioned_by_service() -> None:
    worker = PartitionAggregator("t", 2, RULES)
    worker.process(records([request(BASE_MS)]), 0)
    worker.close_idle(float(RULES.idle_timeout_ms))
    [pane], _ = worker.take()
    assert isinstance(pane, ClosedPane)
    scope_id = "chat-api|endpoint|POST /api/message"
    assert (pane.key, pane.partition_key) == (scope_id.encode(), b"chat-api")
    assert dict(pane.headers) == {
        "scope": scope_id.encode(),
        "pane_id": f"{scope_id}@{BASE_MS}/2".encode(),
        "revision": b"0",
    }
    summary = PaneSummary.model_validate_json(pane.value)
    assert summary.pane_id == PaneSummary.make_id(summary.scope, BASE_MS, 2)
    assert summary.scope.id == scope_id and summary.partition == 2


def test_a_pane_of_live_data_that_fires_asks_for_a_transaction_now() -> None:
    """Live: the pane ends within a pane interval of the wall clock. A backlog's panes (far
    behind the wall clock) wait for the next scheduled transaction."""
    live = PartitionAggregator("t", 0, RULES)
    live.process(records([request(BASE_MS + 50), request(BASE_MS + 100)]), now_ms=BASE_MS + 130)
    assert live.live_fired
    backlog = PartitionAggregator("t", 0, RULES)
    backlog.process(
        records([request(BASE_MS + 50), request(BASE_MS + 100)]), now_ms=BASE_MS + 10**6
    )
    assert not backlog.live_fired and len(backlog.take()[0]) == 1  # fired all the same
