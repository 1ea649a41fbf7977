"""The evaluator service on the real broker: panes in, one decision per state change out,
in transactions, with the state persisted beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.panes import PaneSummary
from streams.evaluate import Evaluator
from streams.evaluate.synthetic import START_MS
from streams.policy import load_policy
from tests.integration.evaluate.conftest import running_evaluator
from tests.support.waiting import eventually

MESSAGE = {"service": "chat-api", "endpoint": "POST /api/message"}
S1 = [
    {"scope": MESSAGE, "requests": "70x90", "errors": "0x30 28x60",
     "version": "2.3.9x30 2.4.0x60"},
    {"scope": {"service": "chat-api", "host": "web-1"}, "cpu": "40x30 95x60"},
    {"scope": {"service": "search-api", "endpoint": "POST /api/search"}, "requests": "60x90"},
    {"scope": {"service": "chat-api"}, "deploys": [{"at": "30s", "version": "2.4.0"}]},
]  # fmt: skip


@pytest.fixture
async def evaluator(bootstrap: str, eval_topics: Any) -> AsyncIterator[Evaluator]:
    async with running_evaluator(bootstrap, eval_topics, load_policy()) as service:
        yield service


async def _state_records(bootstrap: str, topic: str) -> dict[bytes, bytes]:
    """The latest value per key of the state topic (read_committed)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        latest: dict[bytes, bytes] = {}
        ends: dict[TopicPartition, int] = {}
        while not ends or [tp for tp in ends if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                latest.update({r.key: r.value for r in records})
            if not ends and consumer.assignment():  # the partitions, once metadata is in
                ends = await consumer.end_offsets(list(consumer.assignment()))
        return latest
    finally:
        await consumer.stop()


Panes = Callable[[list[dict[str, Any]]], list[list[PaneSummary]]]
Produce = Callable[[str, Iterable[PaneSummary]], Awaitable[None]]
Log = Callable[[str], AbstractAsyncContextManager[Any]]


async def test_s1_panes_yield_one_critical_decision_with_versions(
    bootstrap: str,
    eval_topics: Any,
    evaluator: Evaluator,
    series_panes: Panes,
    produce_panes: Produce,
    decision_log: Log,
) -> None:
    async with decision_log(eval_topics.decisions) as log:
        panes = [p for group in series_panes(S1) for p in group]
        await produce_panes(eval_topics.panes, panes)
        critical = await log.wait_for(
            lambda d: d.rule == "core-error-rate-critical" and d.state == "firing",
            "core-error-rate-critical firing",
        )
        assert critical.scope == MESSAGE and critical.severity == "CRITICAL"
        assert (critical.version, critical.last_good_version) == ("2.4.0", "2.3.9")
        assert critical.at_ms == START_MS + 43_000  # 99.9% bound above 10% from 43 s
        assert critical.decision_id == f"{critical.fingerprint}:1"
        await log.wait_for(lambda d: d.rule == "cpu-high" and d.state == "firing", "cpu firing")
        ids = [d.decision_id for d in log.decisions]
        assert len(ids) == len(set(ids))
        firing = log.matching(lambda d: d.rule == "core-error-rate-critical")
        assert [d.state for d in firing] == ["firing"]
        assert log.matching(lambda d: d.service == "search-api" and d.state == "firing") == []
    # The decisions above may come from a batch before the last: wait until every pane is in.
    health = await eventually(
        _health_of(evaluator), lambda h: h["panes"] >= len(panes), what="every pane consumed"
    )
    assert health["ready"] and health["panes"] == len(panes) and health["transactions"] >= 1
    state = await _state_records(bootstrap, eval_topics.state)
    assert f"alert:{critical.fingerprint}".encode() in state
    assert b"service:chat-api" in state


async def test_malformed_panes_are_skipped_and_counted(
    bootstrap: str,
    eval_topics: Any,
    evaluator: Evaluator,
    series_panes: Panes,
    produce_panes: Produce,
    decision_log: Log,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    await producer.send_and_wait(eval_topics.panes, b"{not json", key=b"chat-api")
    await producer.stop()
    async with decision_log(eval_topics.decisions) as log:
        await produce_panes(eval_topics.panes, [p for g in series_panes(S1) for p in g])
        await log.wait_for(lambda d: d.rule == "core-error-rate-critical", "a decision")
    assert evaluator.health()["bad_panes"] == 1


async def test_a_refinement_that_clears_the_breach_is_applied_once_and_counted(
    bootstrap: str,
    eval_topics: Any,
    evaluator: Evaluator,
    series_panes: Panes,
    produce_panes: Produce,
    decision_log: Log,
) -> None:
    """The breaching pane's refinement (2000 late successes) replaces it: the verdicts of the
    endpoint's and the service's critical rules are reversed, the alert keeps firing
    (keep_firing_for: its turn is published), and the counts say so."""
    groups = series_panes([{"scope": MESSAGE, "requests": "10x59 200x1", "errors": "0x59 200x1"}])
    async with decision_log(eval_topics.decisions) as log:
        await produce_panes(eval_topics.panes, [p for g in groups for p in g])
        await log.wait_for(
            lambda d: d.rule == "core-error-rate-critical" and d.state == "firing", "firing"
        )
        breaching = groups[-1][0]
        assert breaching.requests is not None
        requests = breaching.requests.model_copy(update={"count": 2200})
        refined = breaching.model_copy(update={"revision": 9, "requests": requests})
        await produce_panes(eval_topics.panes, [refined, refined])  # re-sent: applied once
        turn = await log.wait_for(
            lambda d: d.rule == "core-error-rate-critical" and "held firing" in d.summary,
            "the alert's turn, held firing by keep_firing_for",
        )
        health = await eventually(
            _health_of(evaluator), lambda h: h["reversals"] >= 2, what="the reversals"
        )
    assert turn.state == "firing" and turn.at_ms == breaching.end_ms
    assert (health["refinements"], health["reversals"]) == (1, 2)


def _health_of(evaluator: Evaluator) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def probe() -> dict[str, Any]:
        return evaluator.health()

    return probe
