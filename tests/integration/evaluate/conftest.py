"""Fixtures for the evaluator against the real broker: unique topics, a pane producer, a
decisions log that can be awaited, and the evaluator as a separate process (for kill -9)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.decisions import Decision
from schemas.panes import PaneSummary
from streams.evaluate import Evaluator, EvaluatorConfig
from streams.evaluate.synthetic import SeriesInput, build_panes
from streams.policy import Policy

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class EvalTopics:
    panes: str
    decisions: str
    state: str
    group: str


@pytest.fixture
async def eval_topics(
    bootstrap: str, make_topic: Callable[..., Awaitable[str]], unique: Callable[[str], str]
) -> AsyncIterator[EvalTopics]:
    """Panes and decisions topics (2 partitions); the evaluator creates the state topic."""
    topics = EvalTopics(
        panes=await make_topic("panes", 2),
        decisions=await make_topic("decisions", 2),
        state=unique("state"),
        group=unique("evaluator"),
    )
    yield topics
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topics.state in await admin.list_topics():
            await admin.delete_topics([topics.state])
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def running_evaluator(
    bootstrap: str, topics: EvalTopics, policy: Policy, **config: Any
) -> AsyncIterator[Evaluator]:
    """An in-process evaluator on ``topics``, started, running and ready; stopped after."""
    evaluator = Evaluator(
        EvaluatorConfig(
            bootstrap=bootstrap,
            panes_topic=topics.panes,
            decisions_topic=topics.decisions,
            state_topic=topics.state,
            group_id=topics.group,
            transactional_prefix=topics.group,
            auto_offset_reset="earliest",
            **config,
        ),
        policy,
    )
    await evaluator.start()
    task = asyncio.create_task(evaluator.run())
    try:
        async with asyncio.timeout(30):
            await evaluator.wait_ready()
        yield evaluator
    finally:
        await evaluator.stop()
        await task


def _series_panes(series: list[dict[str, Any]]) -> list[list[PaneSummary]]:
    return build_panes(tuple(SeriesInput.model_validate(s) for s in series))


@pytest.fixture
def series_panes() -> Callable[[list[dict[str, Any]]], list[list[PaneSummary]]]:
    """Panes of compact series (as in policy tests), grouped by pane end."""
    return _series_panes


async def _produce_panes(bootstrap: str, topic: str, panes: Iterable[PaneSummary]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for pane in panes:
            value = pane.model_dump_json(exclude_none=True).encode()
            await producer.send(topic, value=value, key=pane.scope.service.encode())
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture
def produce_panes(bootstrap: str) -> Callable[[str, Iterable[PaneSummary]], Awaitable[None]]:
    """Publish panes keyed by service, as stage 1 does."""
    return lambda topic, panes: _produce_panes(bootstrap, topic, panes)


@dataclass
class DecisionLog:
    """Every committed decision of a topic, collected in the background."""

    decisions: list[Decision] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def add(self, decisions: list[Decision]) -> None:
        async with self.changed:
            self.decisions.extend(decisions)
            self.changed.notify_all()

    async def wait_until(
        self, condition: Callable[[list[Decision]], bool], what: str, within_s: float = 30.0
    ) -> None:
        """Until ``condition`` holds for the decisions so far (never a guessed sleep)."""
        async with self.changed:
            try:
                async with asyncio.timeout(within_s):
                    await self.changed.wait_for(lambda: condition(self.decisions))
            except TimeoutError:
                seen = [f"{d.rule} {d.scope} {d.state}" for d in self.decisions]
                message = f"no decision {what} within {within_s:g} s; saw {seen}"
                raise AssertionError(message) from None

    async def wait_for(
        self, predicate: Callable[[Decision], bool], what: str, within_s: float = 30.0
    ) -> Decision:
        """The first decision matching ``predicate``, awaited."""
        await self.wait_until(lambda seen: any(map(predicate, seen)), what, within_s)
        return next(d for d in self.decisions if predicate(d))

    def matching(self, predicate: Callable[[Decision], bool]) -> list[Decision]:
        return [d for d in self.decisions if predicate(d)]


async def _collect(consumer: AIOKafkaConsumer, log: DecisionLog) -> None:
    while True:
        batch = await consumer.getmany(timeout_ms=200)
        decoded = [
            Decision.model_validate_json(record.value)
            for records in batch.values()
            for record in records
        ]
        if decoded:
            await log.add(decoded)


@contextlib.asynccontextmanager
async def _decision_log(bootstrap: str, topic: str) -> AsyncIterator[DecisionLog]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    log = DecisionLog()
    task = asyncio.create_task(_collect(consumer, log))
    try:
        yield log
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


@pytest.fixture
def decision_log(
    bootstrap: str,
) -> Callable[[str], contextlib.AbstractAsyncContextManager[DecisionLog]]:
    """``async with decision_log(topic) as log``: committed decisions, collected as they come."""
    return lambda topic: _decision_log(bootstrap, topic)


class EvaluatorProcess:
    """``python -m streams.evaluate`` as a child process, awaited until ready."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.process: subprocess.Popen[str] | None = None

    async def start(self, within_s: float = 60.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.evaluate", *self.args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = await asyncio.wait_for(asyncio.to_thread(self._ready_line), within_s)
        assert json.loads(line)["event"] == "ready", line

    def _ready_line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                return line
        raise AssertionError(f"evaluator exited with {self.process.wait()} before ready")

    def kill(self) -> None:
        """kill -9: no chance to finish a batch, leave the group or close a transaction."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def evaluator_process(bootstrap: str) -> Iterator[Callable[..., EvaluatorProcess]]:
    started: list[EvaluatorProcess] = []

    def _make(topics: EvalTopics, *extra: str) -> EvaluatorProcess:
        args = f"--bootstrap {bootstrap} --panes-topic {topics.panes} --decisions-topic "
        args += f"{topics.decisions} --state-topic {topics.state} --group {topics.group} "
        args += "--role evaluator --offset-reset earliest --session-timeout-ms 6000"
        process = EvaluatorProcess([*args.split(), *extra])
        started.append(process)
        return process

    yield _make
    for process in started:
        process.terminate()
