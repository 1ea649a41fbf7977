"""Backups through Kafka: the panes topic in, the decisions topic out, under the built-in
policy (the plan's schedule and RPOs). A dataset whose backups keep to the schedule raises
nothing; one whose log backups stop is a decision within a pane of its RPO's mark."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from schemas.decisions import Decision
from schemas.panes import PaneSummary
from streams.evaluate.synthetic import START_MS
from streams.policy import load_policy
from tests.integration.evaluate.conftest import running_evaluator
from tests.support.waiting import eventually

Panes = Callable[[list[dict[str, Any]]], list[list[PaneSummary]]]
Produce = Callable[[str, Iterable[PaneSummary]], Awaitable[None]]
Log = Callable[[str], AbstractAsyncContextManager[Any]]

RPO_MS = 600_000  # the plan's RPO of chat messages
LAST_LOG_MS = 300_000  # the stopping stream's last log backup: taken at 5 min

# 25 minutes of two chat services, each serving and backing up its chat messages on the plan's
# schedule (log every 5 min, a full backup and an off-site copy at the start, a passed restore
# test); chat-eu's log backups stop after the one taken at 5 minutes.
SCHEDULE: list[dict[str, Any]] = [
    {"type": "full", "at": "0s", "every": "1h", "until": "25m"},
    {"type": "offsite", "at": "0s", "every": "6h", "until": "25m"},
    {"type": "wal", "at": "0s", "every": "5m", "until": "25m"},
]
SERIES: list[dict[str, Any]] = [
    {"scope": {"service": "chat-api", "endpoint": "POST /api/message"}, "requests": "30x1500"},
    {"scope": {"service": "chat-eu", "endpoint": "POST /api/message"}, "requests": "30x1500"},
    {
        "scope": {"service": "chat-api", "dataset": "chat_messages"},
        "backups": SCHEDULE,
        "restore_tests": [{"at": "1s"}],
    },
    {
        "scope": {"service": "chat-eu", "dataset": "chat_messages"},
        "backups": [*SCHEDULE[:2], {"type": "wal", "at": "0s", "every": "5m", "until": "6m"}],
        "restore_tests": [{"at": "1s"}],
    },
]


POLICY = load_policy()
# The rules the policy's backups: section generates (the rest judge the requests).
BACKUP_RULES = {r.name for r in POLICY.rules if r.name.startswith(("backup-", "restore-test"))}


def _backups_of(service: str) -> Callable[[Decision], bool]:
    return lambda d: d.rule in BACKUP_RULES and d.scope["service"] == service


async def test_backups_on_schedule_raise_nothing_and_a_stream_that_stops_breaks_the_rpo(
    bootstrap: str,
    eval_topics: Any,
    series_panes: Panes,
    produce_panes: Produce,
    decision_log: Log,
) -> None:
    panes = [p for group in series_panes(SERIES) for p in group]
    async with (
        decision_log(eval_topics.decisions) as log,
        running_evaluator(bootstrap, eval_topics, POLICY) as evaluator,
    ):
        await produce_panes(eval_topics.panes, panes)
        fired = await log.wait_for(
            lambda d: d.rule == "backup-rpo-chat_messages" and d.state == "firing",
            "the RPO of chat-eu's chat messages",
            within_s=60,
        )

        async def judged() -> dict[str, Any]:
            return evaluator.health()

        # Every pane judged, and every decision it made is in the log: nothing is in flight.
        health = await eventually(
            judged, lambda h: h["panes"] >= len(panes), within_s=60, what="every pane judged"
        )
        await log.wait_until(
            lambda seen: len(seen) >= health["decisions"], "all of them", within_s=30
        )
    assert (fired.scope["service"], fired.scope["dataset"]) == ("chat-eu", "chat_messages")
    # Within a pane (1 s) of the 10-minute mark, in event time; HIGH, a page, no rollback.
    mark_ms = START_MS + LAST_LOG_MS + RPO_MS
    assert mark_ms < fired.at_ms <= mark_ms + 1000, fired.at_ms - mark_ms
    assert (fired.severity, fired.response) == ("HIGH", "page")
    assert fired.evidence.observed > RPO_MS
    # chat-api kept to the schedule: not one decision of a backup rule about it.
    assert {"backup-rpo-chat_messages", "backup-full-overdue", "backup-failed"} <= BACKUP_RULES
    assert log.matching(_backups_of("chat-api")) == []
    # chat-eu: only the RPO broke (its full, off-site and restore-test schedules held).
    assert [d.rule for d in log.matching(_backups_of("chat-eu"))] == ["backup-rpo-chat_messages"]
