"""The dashboard's Kafka reader (a role of the ``api`` process): panes into the ring, decisions
into the firing log.

It reads every partition of ``metrics.panes`` and ``alerts.decisions`` (assigned, not
balanced: each API process holds every scope) under its own consumer group,
``{group_prefix}-dashboard``, whose offsets it commits only so that lag tools see how far
behind it is. A restarted API draws its recent past again instead of blank graphs: at start
it seeks by timestamp (``offsets_for_times``) to ``recent_first_s`` back (the page's default
15 minutes; decisions a day back, so an alert firing for hours is still shaded) and reads on
from there live, while a second, group-less consumer reads the older part of the retention
beside it and stops where the first began. Reading an hour of 300 scopes takes about a minute
on one core, so the order decides what an operator sees first. ``health()["refilled"]`` turns
true once both have read up to where the topics ended when it started. Started again after a
stop (its supervisor restarts it in place when Kafka failed it), it reads with new consumers
from the same points, keeping what the ring holds (a pane read twice is kept once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from app.dashboard.firing import FiringLog
from app.dashboard.ring import PaneRing, RevisedPane
from app.dashboard.view import Dashboard
from schemas.decisions import Decision
from streams.evaluate.kafka import partition_count
from streams.lag import consumer_lag
from streams.topics import TopicMissing

__all__ = ["DECISIONS_LOOKBACK_S", "DashboardFeed"]

log = logging.getLogger(__name__)

DECISIONS_LOOKBACK_S = 24 * 3600
_COMMIT_EVERY_S = 5.0
_BATCH = 1000  # records per poll
_YIELD_EVERY = 50  # records parsed (~3 ms) between two turns of the event loop


class DashboardFeed:
    name = "dashboard"

    def __init__(
        self,
        dashboard: Dashboard,
        bootstrap: str,
        panes_topic: str,
        decisions_topic: str,
        group_id: str,
        recent_first_s: int = 900,
    ) -> None:
        self.dashboard = dashboard
        self._recent_first_s = min(recent_first_s, dashboard.retention_s)
        self._bootstrap = bootstrap
        self._topics = (panes_topic, decisions_topic)
        self._group = group_id
        self._consumer = self._new_consumer()
        self._stopping = asyncio.Event()
        self._refill_to: dict[TopicPartition, int] = {}
        self._recent_from: dict[TopicPartition, int] = {}  # panes: where the live reader began
        self._older: dict[TopicPartition, tuple[int, int]] = {}  # [from, to) left to read
        self._older_task: asyncio.Task[None] | None = None
        self._refilled = False
        self.invalid = 0
        self.started = False

    @property
    def ring(self) -> PaneRing:
        return self.dashboard.ring

    @property
    def firing(self) -> FiringLog:
        return self.dashboard.firing

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            isolation_level="read_committed",  # panes of aborted transactions never count
        )

    async def start(self) -> None:
        if self._stopping.is_set():  # started again: a stopped consumer cannot be
            self._stopping.clear()
            self.dashboard.closing.clear()
            self._consumer = self._new_consumer()
            self._refilled = False
        partitions = [tp for topic in self._topics for tp in await self._partitions(topic)]
        await self._consumer.start()
        self._consumer.assign(partitions)
        self._refill_to = await self._consumer.end_offsets(partitions)
        await self._seek_back(partitions)
        self.started = True

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        count = await partition_count(self._bootstrap, topic)
        if not count:
            raise TopicMissing(topic)
        return [TopicPartition(topic, p) for p in range(count)]

    async def _seek_back(self, partitions: list[TopicPartition]) -> None:
        now_ms, (panes, decisions) = self.dashboard.now_ms(), self._topics
        back_s = {panes: self._recent_first_s, decisions: DECISIONS_LOOKBACK_S}
        recent = await self._offsets(
            partitions, {p: now_ms - 1000 * back_s[p.topic] for p in partitions}
        )
        for tp in partitions:
            self._consumer.seek(tp, recent[tp])
        panes_only = [tp for tp in partitions if tp.topic == panes]
        since_ms = now_ms - 1000 * self.dashboard.retention_s
        oldest = await self._offsets(panes_only, {tp: since_ms for tp in panes_only})
        self._recent_from = {tp: recent[tp] for tp in panes_only}
        self._older = {tp: (oldest[tp], recent[tp]) for tp in panes_only if oldest[tp] < recent[tp]}

    @property
    def refill_from(self) -> dict[int, tuple[int, int]]:
        """Per panes partition: the first offsets of the retention and of its recent part,
        where the refill's two readers began (equal when there is no older part)."""
        return {
            tp.partition: (self._older.get(tp, (at, at))[0], at)
            for tp, at in self._recent_from.items()
        }

    async def _offsets(
        self, partitions: list[TopicPartition], since: dict[TopicPartition, int]
    ) -> dict[TopicPartition, int]:
        """Each partition's first offset at or after its time; its end when nothing is."""
        found = await self._consumer.offsets_for_times(since)
        return {
            tp: self._refill_to[tp] if found.get(tp) is None else found[tp].offset
            for tp in partitions
        }

    async def _read_older(self) -> None:
        """The retention before ``recent_first_s``, read beside the live panes; then it stops."""
        if not self._older:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            consumer.assign(list(self._older))
            for tp, (begin, _) in self._older.items():
                consumer.seek(tp, begin)
            left = dict(self._older)
            while left and not self._stopping.is_set():
                batches = await consumer.getmany(*left, timeout_ms=200, max_records=_BATCH)
                for tp, records in batches.items():
                    end = left[tp][1]
                    await self._keep(self._pane, [r for r in records if r.offset < end])
                for tp in list(left):
                    if await consumer.position(tp) >= left[tp][1]:
                        del left[tp]
                        consumer.pause(tp)
        finally:
            await consumer.stop()

    async def _keep(self, keep: Callable[[bytes | None], None], records: list[Any]) -> None:
        for n, record in enumerate(records, 1):
            keep(record.value)
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the page's requests in between

    async def run(self) -> None:
        committed = time.monotonic()
        self._older_task = asyncio.create_task(self._read_older(), name="dashboard-refill")
        while not self._stopping.is_set():
            batches = await self._consumer.getmany(timeout_ms=200, max_records=_BATCH)
            for tp, records in batches.items():
                keep = self._pane if tp.topic == self._topics[0] else self._decision
                await self._keep(keep, records)
            if self._older_task.done():
                self._older_task.result()  # a failed refill fails the role (it is supervised)
            if not self._refilled:
                self._refilled = self._older_task.done() and await self._caught_up()
            if time.monotonic() - committed >= _COMMIT_EVERY_S:
                committed = time.monotonic()
                await self._housekeeping()

    async def _caught_up(self) -> bool:
        for tp, end in self._refill_to.items():
            if await self._consumer.position(tp) < end:
                return False
        log.info("dashboard: refilled %d scopes from Kafka", len(self.ring))
        return True

    async def _housekeeping(self) -> None:
        self.firing.prune(self.dashboard.now_ms() - 1000 * self.dashboard.retention_s)
        try:
            await self._consumer.commit()
        except Exception as error:  # lag reporting only: never worth stopping the graphs for
            log.warning("dashboard: could not commit its position (%s)", error)

    def _pane(self, value: bytes | None) -> None:
        try:
            pane = RevisedPane.model_validate_json(value or b"")
        except ValidationError:
            self.invalid += 1
            return
        self.ring.put(pane)

    def _decision(self, value: bytes | None) -> None:
        try:
            decision = Decision.model_validate_json(value or b"")
        except ValidationError:
            self.invalid += 1
            return
        self.firing.add(decision)

    async def stop(self) -> None:
        self.dashboard.closing.set()  # live streams end, so the HTTP server can stop
        self._stopping.set()
        if self._older_task is not None:
            await asyncio.gather(self._older_task, return_exceptions=True)
        await self._consumer.stop()

    def lag(self) -> dict[int, int]:
        """Panes behind the end of each partition of the panes topic."""
        return consumer_lag(self._consumer, self._topics[0])

    def health(self) -> dict[str, Any]:
        ring = self.ring
        return {
            "ready": self.started and not self._stopping.is_set(),
            "refilled": self._refilled,
            "scopes": len(ring),
            "panes": ring.panes,
            "stale_panes": ring.stale,
            "evicted_scopes": ring.evicted,
            "ring_bytes": ring.nbytes,
            "ring_bound_bytes": ring.bound_bytes(),
            "firing": self.firing.firing,
            "decisions": self.firing.decisions,
            "invalid": self.invalid,
        }
