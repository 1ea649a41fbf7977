"""kill -9 and restart the evaluator process: a firing alert does not fire again, a pending
alert keeps its pending time, and no decision is lost or published twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from schemas.decisions import Decision
from schemas.panes import PaneSummary
from streams.evaluate.engine import Evaluation
from streams.evaluate.synthetic import START_MS
from streams.policy import load_policy

pytestmark = pytest.mark.slow

MESSAGE = {"service": "chat-api", "endpoint": "POST /api/message"}
SERIES = [
    {"scope": MESSAGE, "requests": "70x100", "errors": "0x30 28x70",
     "version": "2.3.9x30 2.4.0x70"},
    {"scope": {"service": "chat-api", "host": "web-1"}, "cpu": "40x30 95x70"},
    {"scope": {"service": "search-api", "endpoint": "POST /api/search"},
     "requests": "60x100", "errors": "0x50 30x50"},
    {"scope": {"service": "chat-api"}, "deploys": [{"at": "30s", "version": "2.4.0"}]},
]  # fmt: skip

Panes = Callable[[list[dict[str, Any]]], list[list[PaneSummary]]]
Produce = Callable[[str, Iterable[PaneSummary]], Awaitable[None]]
Log = Callable[[str], AbstractAsyncContextManager[Any]]


def _is(rule: str, state: str) -> Callable[[Decision], bool]:
    return lambda d: d.rule == rule and d.state == state


def _flat(groups: list[list[PaneSummary]]) -> list[PaneSummary]:
    return [pane for group in groups for pane in group]


async def test_kill_9_neither_re_fires_nor_forgets_a_pending_time(
    eval_topics: Any,
    evaluator_process: Callable[..., Any],
    series_panes: Panes,
    produce_panes: Produce,
    decision_log: Log,
) -> None:
    groups = series_panes(SERIES)
    async with decision_log(eval_topics.decisions) as log:
        first = evaluator_process(eval_topics)
        await first.start()
        await produce_panes(eval_topics.panes, _flat(groups[:45]))
        critical = await log.wait_for(_is("core-error-rate-critical", "firing"), "S1 firing")
        pending = await log.wait_for(_is("cpu-high", "pending"), "cpu-high pending")
        assert pending.at_ms == START_MS + 31_000
        first.kill()

        second = evaluator_process(eval_topics)
        await second.start()
        await produce_panes(eval_topics.panes, _flat(groups[45:]))
        fired = await log.wait_for(_is("cpu-high", "firing"), "cpu-high firing after restart")
        # pending since 31 s, `for` 30 s: fires at 61 s, not 30 s after the restart
        assert fired.at_ms == START_MS + 61_000
        assert fired.decision_id.endswith(":2")
        await log.wait_for(_is("core-error-rate-critical", "firing"), "search-api firing")
        assert log.matching(
            lambda d: d.fingerprint == critical.fingerprint and d.state == "firing"
        ) == [critical]
        ids = [d.decision_id for d in log.decisions]
        assert len(ids) == len(set(ids)), "a decision was published twice"


def _expected(groups: list[list[PaneSummary]]) -> list[tuple[str, str, int]]:
    engine = Evaluation(load_policy())
    decisions: list[Decision] = []
    for group in groups:
        for pane in group:
            engine.add(pane)
        decisions.extend(engine.advance().decisions)
    return sorted((d.decision_id, d.state, d.at_ms) for d in decisions)


async def test_kill_9_mid_stream_loses_and_duplicates_nothing(
    eval_topics: Any,
    evaluator_process: Callable[..., Any],
    series_panes: Panes,
    produce_panes: Produce,
    decision_log: Log,
) -> None:
    groups = series_panes(SERIES)
    expected = _expected(groups)
    async with decision_log(eval_topics.decisions) as log:
        first = evaluator_process(eval_topics)
        await first.start()

        async def stream() -> None:  # a pane interval every 20 ms, as a live stage 1 would
            for group in groups:
                await produce_panes(eval_topics.panes, group)
                await asyncio.sleep(0.02)

        streaming = asyncio.create_task(stream())
        await log.wait_for(_is("core-error-rate-high", "firing"), "a first firing decision")
        first.kill()  # while panes keep coming and transactions are in flight
        await streaming
        second = evaluator_process(eval_topics)
        await second.start()
        ids = {e[0] for e in expected}
        await log.wait_until(lambda seen: ids <= {d.decision_id for d in seen}, "every decision")
        got = sorted((d.decision_id, d.state, d.at_ms) for d in log.decisions)
        assert got == expected
