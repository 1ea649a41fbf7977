"""Plan S4 across services on the real broker: the correlator reads every decisions
partition, fires once when five CRITICAL alerts fire within the window, and a restarted
correlator neither re-fires nor forgets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.decisions import Decision, Evidence
from streams.evaluate import Correlator, CorrelatorConfig
from streams.evaluate.service import encode_decision
from streams.policy import load_policy

Log = Callable[[str], AbstractAsyncContextManager[Any]]
EVIDENCE = Evidence(
    metric="error_rate", window_start_ms=0, window_end_ms=60_000, observed=0.4, comparison=">",
    threshold=0.1, samples=4000, min_samples=20,
)  # fmt: skip


def _critical(n: int, state: str, at_ms: int) -> Decision:
    return Decision(
        decision_id=f"fp{n}:{1 if state == 'firing' else 2}", fingerprint=f"fp{n}",
        rule="core-error-rate-critical", scope={"service": f"svc-{n}"}, service=f"svc-{n}",
        state=state, previous="inactive" if state == "firing" else "firing",  # type: ignore[arg-type]
        severity="CRITICAL", response="rollback", at_ms=at_ms, evidence=EVIDENCE,  # type: ignore[arg-type]
    )  # fmt: skip


async def _publish(bootstrap: str, topic: str, decisions: list[Decision]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for decision in decisions:
            await producer.send(topic, encode_decision(decision), key=decision.service.encode())
        await producer.flush()
    finally:
        await producer.stop()


@asynccontextmanager
async def _running(bootstrap: str, topics: Any) -> AsyncIterator[Correlator]:
    config = CorrelatorConfig(
        bootstrap=bootstrap,
        decisions_topic=topics.decisions,
        state_topic=topics.state,
        panes_topic=topics.panes,
        group_id=topics.group,
        transactional_id=topics.group,
    )
    correlator = Correlator(config, load_policy().cascade)
    await correlator.start()
    task = asyncio.create_task(correlator.run())
    try:
        yield correlator
    finally:
        await correlator.stop()
        await task


def _s4(state: str) -> Callable[[Decision], bool]:
    return lambda d: d.rule == "cascading-failures" and d.state == state


async def test_five_criticals_fire_s4_once_across_a_restart(
    bootstrap: str, eval_topics: Any, decision_log: Log
) -> None:
    async with decision_log(eval_topics.decisions) as log:
        async with _running(bootstrap, eval_topics):
            await _publish(
                bootstrap,
                eval_topics.decisions,
                [_critical(n, "firing", n * 1000) for n in range(5)],
            )
            fired = await log.wait_for(_s4("firing"), "S4 firing")
            assert (fired.scenario, fired.response, fired.service) == ("S4", "emergency_stop", "*")
        async with _running(bootstrap, eval_topics) as restarted:
            assert restarted.cascade.record.state == "firing"  # restored, not recomputed
            await _publish(bootstrap, eval_topics.decisions, [_critical(5, "firing", 9000)])
            await _publish(
                bootstrap,
                eval_topics.decisions,
                [_critical(n, "resolved", 60_000 + n) for n in range(2)],
            )
            resolved = await log.wait_for(_s4("resolved"), "S4 resolved")
            assert resolved.decision_id == f"{fired.fingerprint}:2"
        assert log.matching(_s4("firing")) == [fired]
