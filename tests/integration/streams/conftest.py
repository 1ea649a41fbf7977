"""Stage-1 integration fixtures: fresh topics per test, producing, reading back, the oracle.

The oracle of every end-to-end test is the pure ``PartitionAggregator`` run over the very
records the broker holds (same offsets, same timestamps) without interruption: whatever the
real service does — crash, restart, rebalance, run as two processes — the last committed
revision of each of its panes and its dead letters must equal that run's; every revision is
published once, after the lower ones of its pane. (Which revisions there are depends on
when transactions happened to commit, so revisions compare by content, not by number.)
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.aggregate.config import AggregatorConfig
from streams.aggregate.partition import PaneRules, PartitionAggregator
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 3
RULES = PaneRules(pane_ms=1000, allowed_lateness_ms=2000, idle_timeout_ms=2000)


@dataclass(frozen=True)
class Outcome:
    """What stage 1 published: the last revision of each pane by id (its content, without
    the revision number), how often each revision was seen, and dead letters."""

    panes: dict[str, bytes]
    pane_copies: Counter[str]  # "pane_id#revision"
    dead_letters: Counter[tuple[bytes | None, str]]  # (original value, dlq.code)
    out_of_order: list[str] = field(default_factory=list)  # a revision after a higher one

    @property
    def duplicates(self) -> list[str]:
        return [pane_id for pane_id, n in self.pane_copies.items() if n > 1]

    @property
    def refined(self) -> int:
        """Panes published more than once (refinements for late events)."""
        revisions = Counter(key.split("#")[0] for key in self.pane_copies)
        return sum(1 for n in revisions.values() if n > 1)


def _content(value: bytes) -> bytes:
    return orjson.dumps({k: v for k, v in orjson.loads(value).items() if k != "revision"})


def latest_revisions(
    values: Sequence[bytes],
) -> tuple[dict[str, bytes], Counter[str], list[str]]:
    """Pane values in topic order → (last content per pane id, revision copies, pane ids
    whose revisions went backwards)."""
    panes: dict[str, bytes] = {}
    copies: Counter[str] = Counter()
    highest: dict[str, int] = {}
    backwards: list[str] = []
    for value in values:
        summary = orjson.loads(value)
        pane_id, revision = summary["pane_id"], summary.get("revision", 0)
        copies[f"{pane_id}#{revision}"] += 1
        if revision < highest.get(pane_id, -1):
            backwards.append(pane_id)
            continue
        highest[pane_id] = revision
        panes[pane_id] = _content(value)
    return panes, copies, backwards


@dataclass
class Stage:
    """A private set of stage-1 topics and a consumer group."""

    bootstrap: str
    telemetry: str
    panes: str
    dead_letter: str
    group: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def config(self, **overrides: Any) -> AggregatorConfig:
        fields: dict[str, Any] = {
            "bootstrap": self.bootstrap,
            "telemetry_topic": self.telemetry,
            "panes_topic": self.panes,
            "dead_letter_topic": self.dead_letter,
            "group_id": self.group,
            "pane_ms": RULES.pane_ms,
            "allowed_lateness_ms": RULES.allowed_lateness_ms,
            "idle_timeout_ms": RULES.idle_timeout_ms,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            **overrides,
        }
        return AggregatorConfig(**fields)

    def spawn(self, *extra: str, log: Path) -> subprocess.Popen[bytes]:
        """``python -m streams.aggregate`` on these topics, as a separate process."""
        command = [sys.executable, "-m", "streams.aggregate", "--bootstrap", self.bootstrap,
                   "--telemetry-topic", self.telemetry, "--panes-topic", self.panes,
                   "--dead-letter-topic", self.dead_letter, "--group", self.group,
                   "--pane-ms", str(RULES.pane_ms),
                   "--lateness-ms", str(RULES.allowed_lateness_ms),
                   "--idle-timeout-ms", str(RULES.idle_timeout_ms),
                   "--session-timeout-ms", "6000", *extra]  # fmt: skip
        with log.open("ab") as sink:
            process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=sink)
        self.processes.append(process)
        return process

    async def committed_offsets(self) -> dict[TopicPartition, Any]:
        """The group's committed offsets (with their metadata) on the telemetry topic."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.group)
        finally:
            await admin.close()
        return {tp: o for tp, o in offsets.items() if tp.topic == self.telemetry}

    async def committed_input(self) -> int:
        """How many input offsets the group has committed (summed over partitions)."""
        return sum(max(0, o.offset) for o in (await self.committed_offsets()).values())

    async def published(self) -> Outcome:
        records = await read_topic(self.bootstrap, self.panes)
        letters = await read_topic(self.bootstrap, self.dead_letter)
        panes, copies, backwards = latest_revisions([r.value or b"{}" for r in records])
        return Outcome(
            panes=panes,
            pane_copies=copies,
            dead_letters=Counter((r.value, _header(r, "dlq.code")) for r in letters),
            out_of_order=backwards,
        )

    async def expected(self, without: Collection[bytes] = ()) -> Outcome:
        """The uninterrupted run over the records the broker holds (the oracle), leaving out
        records whose value is in ``without``."""
        records = [
            r for r in await read_topic(self.bootstrap, self.telemetry) if r.value not in without
        ]
        by_partition: dict[int, list[ConsumerRecord[bytes, bytes]]] = {}
        for record in records:
            by_partition.setdefault(record.partition, []).append(record)
        values: list[bytes] = []
        letters: Counter[tuple[bytes | None, str]] = Counter()
        for partition, feed in by_partition.items():
            aggregator = PartitionAggregator(self.telemetry, partition, RULES)
            aggregator.process(feed, now_ms=0.0)
            aggregator.close_idle(now_ms=float(RULES.idle_timeout_ms))
            closed, dead = aggregator.take()
            values.extend(pane.value for pane in closed)
            letters.update((d.value, dict(d.headers)["dlq.code"].decode()) for d in dead)
        panes, copies, _ = latest_revisions(values)
        return Outcome(panes, copies, letters)

    async def reached(self, at_least: int) -> bool:
        return await self.committed_input() >= at_least

    async def wait_for(self, expected: Outcome, within_s: float = 60.0) -> Outcome:
        """Poll the committed output until every expected pane (at its last revision) and
        dead letter is there."""

        def complete(outcome: Outcome) -> bool:
            done = all(outcome.panes.get(k) == v for k, v in expected.panes.items())
            return done and (
                sum(outcome.dead_letters.values()) >= sum(expected.dead_letters.values())
            )

        try:
            return await eventually(
                self.published, complete, within_s=within_s, what="all panes", every_s=0.5
            )
        except AssertionError:
            raise AssertionError(_difference(await self.published(), expected)) from None


def _difference(outcome: Outcome, expected: Outcome) -> str:
    """What the committed output still lacks, in a few lines (not the whole topic)."""
    missing = sorted(expected.panes.keys() - outcome.panes.keys())
    differ = sorted(k for k in expected.panes.keys() & outcome.panes.keys()
                    if outcome.panes[k] != expected.panes[k])  # fmt: skip
    first = differ[0] if differ else None
    return (
        f"not all panes committed: {len(missing)} missing (e.g. {missing[:3]}), "
        f"{len(differ)} at another content (e.g. {first}: "
        f"{outcome.panes.get(first or '', b'')[:300]!r} != {expected.panes.get(first or '', b'')[:300]!r}); "
        f"dead letters {sum(outcome.dead_letters.values())} of {sum(expected.dead_letters.values())}"
    )


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> str:
    value: bytes = dict(record.headers)[name]
    return value.decode()


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every committed record of ``topic`` (read_committed), up to its current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)  # the last stable offsets
        got: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(batch)
        return got
    finally:
        await consumer.stop()


async def produce(bootstrap: str, topic: str, messages: Sequence[dict[str, Any] | bytes]) -> None:
    """Events keyed by service (as producers should); raw bytes keyed by a fixed service."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    await producer.start()
    try:
        for message in messages:
            if isinstance(message, bytes):
                await producer.send(topic, message, key=b"chat-api")
            else:
                key = str(message["service"]).encode()
                await producer.send(topic, orjson.dumps(message), key=key)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture
async def stage(bootstrap: str, unique: Callable[[str], str]) -> AsyncIterator[Stage]:
    names = [unique("agg-telemetry"), unique("agg-panes"), unique("agg-dlq")]
    telemetry, panes, dead_letter = names
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    # The ingest topic as app/topics.py declares it: message timestamps are the broker's.
    broker_time = {"message.timestamp.type": "LogAppendTime"}
    await admin.create_topics(
        [NewTopic(telemetry, PARTITIONS, 1, topic_configs=broker_time)]
        + [NewTopic(name, PARTITIONS, 1) for name in (panes, dead_letter)]
    )
    staged = Stage(bootstrap, telemetry, panes, dead_letter, group=unique("agg-group"))
    try:
        yield staged
    finally:
        for process in staged.processes:  # only the processes this test started
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        await admin.delete_topics(names)
        await admin.close()


async def wait_exit(process: subprocess.Popen[bytes], within_s: float = 30.0) -> int:
    code: int = await asyncio.to_thread(process.wait, within_s)
    return code


SERVICES = ("chat-api", "search-api", "bot-runner")
ENDPOINTS = ("POST /api/message", "POST /api/search", "GET /api/health", "POST /api/bot/launch")


def _event(rnd: random.Random, service: str, ts_ms: int) -> dict[str, Any]:
    head = {"ts": ts_ms / 1000, "service": service}
    roll = rnd.random()
    if roll < 0.85:
        return {**head, "kind": "request", "endpoint": rnd.choice(ENDPOINTS),
                "status": rnd.choice((200, 200, 200, 201, 404, 500, 503)),
                "latency_ms": round(rnd.lognormvariate(3.5, 1.0), 3)}  # fmt: skip
    if roll < 0.92:
        return {**head, "kind": "log", "level": rnd.choice(("info", "error")), "message": "x"}
    if roll < 0.96:
        return {**head, "kind": "resource", "host": f"h{rnd.randrange(3)}",
                "cpu_pct": rnd.uniform(0, 100)}  # fmt: skip
    if roll < 0.98:
        return {**head, "kind": "queue", "queue": "jobs", "depth": rnd.randrange(200)}
    return {**head, "kind": "bot", "bot_id": "b1", "status": rnd.choice(("online", "crashed"))}


MALFORMED: tuple[bytes, ...] = (
    b"{oops",
    b'"just a string"',
    b'{"kind":"request","ts":1,"service":"chat-api","endpoint":"x","status":99,"latency_ms":1}',
    b'{"kind":"request","ts":1,"service":"chat-api","endpoint":"x","status":200,"latency_ms":-3}',
    b'{"kind":"queue","ts":1,"service":"chat-api","queue":"q"}',
    b'{"kind":"teleport","ts":1,"service":"chat-api"}',
    b"",
    b'{"kind":"request","ts":1,"service":"chat-api","endpoint":"x","status":"oops","latency_ms":1}',
    b'{"kind":"request","ts":4102444800,"service":"chat-api","endpoint":"x","status":200,"latency_ms":1}',
    b'{"kind":"request","ts":1e300,"service":"chat-api","endpoint":"x","status":200,"latency_ms":1}',
)


def stream(
    count: int, *, seed: int, malformed_every: int = 0, late_every: int = 0, behind_every: int = 0
) -> list[dict[str, Any] | bytes]:
    """``count`` events, ~1000 per second of event time an hour ago, a little out of order.

    Every ``malformed_every``-th message is garbage (distinct bytes, so each dead letter can
    be matched to its message), every ``late_every``-th event is 5 s behind (late) and every
    ``behind_every``-th 1.5 s behind: within the allowed lateness, so when its pane fired
    already it is counted in a refinement.
    """
    rnd = random.Random(seed)
    start_ms = int((time.time() - 3600) * 1000)
    messages: list[dict[str, Any] | bytes] = []
    for i in range(count):
        if malformed_every and i % malformed_every == malformed_every - 1:
            bad = rnd.choice(MALFORMED)
            messages.append(bad[:-1] + b" " * (i % 7) + bad[-1:] if bad else bad)
            continue
        ts_ms = start_ms + i - rnd.randrange(300)  # up to 300 ms out of order
        if late_every and i % late_every == late_every - 1:
            ts_ms -= 5000
        elif behind_every and i % behind_every == behind_every - 1:
            ts_ms -= 1500
        messages.append(_event(rnd, SERVICES[i % len(SERVICES)], ts_ms))
    return messages
