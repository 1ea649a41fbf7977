"""End to end through the real processes: `alertpipe simulate --backfill` -> the aggregator
(`python -m streams.aggregate`) -> the evaluator (`python -m streams.evaluate`).

S1 yields a CRITICAL decision for POST /api/message carrying the bad version (2.4.0) and the
last good one (2.3.9); the healthy scenario yields no pending or firing decision at all over
its timeline, only the throughput rule's reports while it learns each endpoint's rate (which
show that every endpoint was evaluated) — and once the simulation stops, the evaluator judges
the silence: every endpoint's throughput collapses, after the timeline, not before.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from app.simulation.scenarios import FLEET
from schemas.decisions import Decision
from schemas.panes import PaneSummary
from schemas.severity import Severity
from streams.evaluate.kafka import make_reader, partition_count, read_range
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
Log = Callable[[str], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class Pipeline:
    telemetry: str
    panes: str
    decisions: str
    aggregator_group: str
    evaluator_group: str
    env: dict[str, str]


@pytest.fixture
async def pipeline(
    bootstrap: str,
    make_topic: Callable[..., Awaitable[str]],
    unique: Callable[[str], str],
    eval_topics: Any,
    evaluator_process: Callable[..., Any],
) -> AsyncIterator[Pipeline]:
    telemetry = await make_topic("telemetry", 3)
    dead_letter = await make_topic("dlq", 3)
    aggregator_group = unique("aggregate")
    env = {
        **os.environ,
        "ALERTPIPE_TOPICS__TELEMETRY": telemetry,
        "ALERTPIPE_TOPICS__DEAD_LETTER": dead_letter,
        "ALERTPIPE_TOPICS__PANES": eval_topics.panes,
        "ALERTPIPE_TOPICS__DECISIONS": eval_topics.decisions,
    }
    # The stage reads flags only (the ALERTPIPE_* variables above are for `alertpipe simulate`).
    aggregator = subprocess.Popen(
        [sys.executable, "-m", "streams.aggregate", "--bootstrap", bootstrap,
         "--telemetry-topic", telemetry, "--dead-letter-topic", dead_letter,
         "--panes-topic", eval_topics.panes, "--group", aggregator_group, "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    evaluator = evaluator_process(eval_topics)
    await evaluator.start()
    try:
        yield Pipeline(
            telemetry, eval_topics.panes, eval_topics.decisions, aggregator_group,
            eval_topics.group, env,
        )  # fmt: skip
    finally:
        aggregator.terminate()
        aggregator.wait(timeout=30)


async def _simulate(pipeline: Pipeline, scenario: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv/bin/alertpipe"), "simulate", "--scenario", scenario, "--backfill",
        cwd=ROOT, env=pipeline.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


async def _caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Every partition of ``topic`` committed by ``group`` up to its end (read_committed)."""
    count = await partition_count(bootstrap, topic)
    partitions = [TopicPartition(topic, p) for p in range(count or 0)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await consumer.stop()
        await admin.close()
    done = {tp: committed[tp].offset if tp in committed else 0 for tp in partitions}
    return bool(partitions) and all(done[tp] >= ends[tp] for tp in partitions)


async def _all_evaluated(bootstrap: str, pipeline: Pipeline) -> None:
    """Until the aggregator closed every pane (its committed offsets reach the end of the
    telemetry only once no pane is open) and then the evaluator evaluated all of them."""

    async def aggregated() -> bool:
        return await _caught_up(bootstrap, pipeline.aggregator_group, pipeline.telemetry)

    async def evaluated() -> bool:
        return await _caught_up(bootstrap, pipeline.evaluator_group, pipeline.panes)

    await eventually(aggregated, within_s=90, what="aggregator caught up", every_s=0.2)
    await eventually(evaluated, within_s=90, what="evaluator caught up", every_s=0.2)


def _s1_critical(decision: Decision) -> bool:
    return (
        decision.rule == "core-error-rate-critical"
        and decision.state == "firing"
        and decision.scope.get("endpoint") == "POST /api/message"
    )


async def test_s1_yields_a_critical_decision_with_bad_and_last_good_versions(
    pipeline: Pipeline, decision_log: Log
) -> None:
    async with decision_log(pipeline.decisions) as log:
        await _simulate(pipeline, "s1")
        critical = await log.wait_for(_s1_critical, "CRITICAL on POST /api/message", 90)
    assert critical.severity == Severity.CRITICAL and critical.scenario == "S1"
    assert (critical.version, critical.last_good_version) == ("2.4.0", "2.3.9")
    assert critical.post_deploy and critical.response == "rollback"
    assert critical.evidence.observed is not None and critical.evidence.observed > 0.10


async def _last_pane_end(bootstrap: str, topic: str) -> int:
    """The end of the latest pane stage 1 published: where the simulated telemetry stops."""
    reader = make_reader(bootstrap, "e2e-last-pane")
    await reader.start()
    last = 0
    try:
        for partition in range(await partition_count(bootstrap, topic) or 0):
            tp = TopicPartition(topic, partition)
            end = (await reader.end_offsets([tp]))[tp]
            async for record in read_range(reader, tp, 0, end):
                last = max(last, PaneSummary.model_validate_json(record.value).end_ms)
    finally:
        await reader.stop()
    return last


FLEET_ENDPOINTS = {(e.service, e.route) for e in FLEET}


def _endpoints(decisions: Iterable[Decision]) -> set[tuple[str, str | None]]:
    return {(d.service, d.scope.get("endpoint")) for d in decisions}


def _collapsed(after_ms: int) -> Callable[[list[Decision]], bool]:
    """Every endpoint of the fleet judged silent (throughput collapsed) after ``after_ms``."""

    def collapse(d: Decision) -> bool:
        return (d.rule, d.state) == ("throughput-collapse", "firing") and d.at_ms > after_ms

    return lambda seen: _endpoints(filter(collapse, seen)) >= FLEET_ENDPOINTS


async def test_healthy_yields_no_alert_over_its_timeline_and_its_end_is_judged_as_silence(
    bootstrap: str, pipeline: Pipeline, decision_log: Log
) -> None:
    async with decision_log(pipeline.decisions) as log:
        await _simulate(pipeline, "healthy")
        await _all_evaluated(bootstrap, pipeline)
        end = await _last_pane_end(bootstrap, pipeline.panes)
        await log.wait_until(_collapsed(end), "throughput-collapse for every endpoint", 90)
    during = [d for d in log.decisions if d.at_ms <= end]
    assert [d for d in during if d.state in ("pending", "firing")] == []  # not even pending
    # The only decisions over the timeline: the throughput rule saying "no data" while it has
    # no baseline yet (it cannot breach without one) and "inactive" once it learned one.
    assert {(d.rule, d.previous, d.state) for d in during} <= {
        ("throughput-collapse", "inactive", "no_data"),
        ("throughput-collapse", "no_data", "inactive"),
    }, [(d.rule, d.previous, d.state) for d in during]
    # The positive control: every endpoint of the fleet learned its rate and was judged on it.
    learned = [d for d in during if (d.previous, d.state) == ("no_data", "inactive")]
    assert _endpoints(learned) == FLEET_ENDPOINTS
    # After the timeline the services are silent: collapses and "no data", nothing else.
    after = [d for d in log.decisions if d.at_ms > end]
    assert all(
        d.state == "no_data" or (d.rule, d.state) == ("throughput-collapse", "firing")
        for d in after
    ), [(d.rule, d.scope, d.state) for d in after]
