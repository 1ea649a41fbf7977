"""A partition that goes wholly quiet (every service on it crashed) is still judged: its event
time moves on by the wall-clock time since its last pane, in transactions, and a restarted
evaluator resumes that clock without judging anything twice. Short windows and a 0.5 s idle
wait keep it to seconds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from schemas.decisions import Decision
from schemas.panes import PaneSummary
from streams.evaluate.synthetic import START_MS
from streams.policy import parse_policy
from tests.integration.evaluate.conftest import running_evaluator
from tests.support.waiting import eventually

POLICY = parse_policy(
    """
    cascade: {enabled: false}
    throughput:
      expected: [{match: {service: quiet-api}, rps: 60}]
    rules:
      - {name: error-rate, metric: error_rate, window: 2s, min_samples: 20, comparison: ">",
         threshold: 10%, severity: CRITICAL, response: rollback}
      - {name: throughput-collapse, metric: throughput_ratio, window: 2s, min_samples: 1,
         comparison: "<", threshold: 50%, severity: HIGH, response: investigate}
    """
)
SERIES = [{"scope": {"service": "quiet-api", "endpoint": "POST /api/search"}, "requests": "60x10"}]
LAST_PANE_END = START_MS + 10_000

Panes = Callable[[list[dict[str, Any]]], list[list[PaneSummary]]]
Produce = Callable[[str, Iterable[PaneSummary]], Awaitable[None]]
Log = Callable[[str], AbstractAsyncContextManager[Any]]


def _is(rule: str, state: str) -> Callable[[Decision], bool]:
    return lambda d: d.rule == rule and d.state == state


async def test_a_wholly_quiet_partition_is_judged_on_wall_clock_time_and_restarts_cleanly(
    bootstrap: str,
    eval_topics: Any,
    series_panes: Panes,
    produce_panes: Produce,
    decision_log: Log,
) -> None:
    async with decision_log(eval_topics.decisions) as log:
        async with running_evaluator(bootstrap, eval_topics, POLICY, idle_after_ms=500) as first:
            started = time.monotonic()
            await produce_panes(eval_topics.panes, [p for g in series_panes(SERIES) for p in g])
            collapsed = await log.wait_for(_is("throughput-collapse", "firing"), "collapse")
            silent = await log.wait_for(_is("error-rate", "no_data"), "no data")
            waited_ms = (time.monotonic() - started) * 1000
            assert first.health()["idle_ticks"] >= 1
        # Judged once the 2 s windows are past the last pane, and on the data's own clock:
        # moved on by the time that passed since the last pane — not to "now" (2023 + 10 s).
        for decision in (collapsed, silent):
            assert START_MS + 12_000 <= decision.at_ms <= LAST_PANE_END + waited_ms
            assert (decision.at_ms - START_MS) % 1000 == 0  # on the pane grid

        async with running_evaluator(bootstrap, eval_topics, POLICY, idle_after_ms=500) as second:
            assert second.health()["alerts"]["no_data"] == 1  # restored from the state topic
            assert second.health()["alerts"]["firing"] == 1

            async def idle_ticks() -> int:
                return int(second.health()["idle_ticks"])

            await eventually(
                idle_ticks,
                lambda ticks: ticks >= 2,
                within_s=20,
                what="two idle ticks after the restart",
            )
            assert second.health()["decisions"] == 0  # nothing re-fired, nothing forgotten
    assert len({d.decision_id for d in log.decisions}) == len(log.decisions)
