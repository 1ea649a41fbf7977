"""The aggregator service: a consumer-group member that turns telemetry into panes.

Work is split three ways. The *run loop* polls batches and feeds each partition's pure
``PartitionAggregator`` (synchronously: no await between a fetch and its processing, so a
rebalance never sees half a batch). A *committer* per partition wakes every
``commit_interval_ms`` — or at once when a pane of live data fired on time, at most once per
pane interval (a backlog's panes wait for the interval) — and publishes the pending panes and
dead letters with their commit point in one transaction while the run loop keeps going (a
transaction is ~40 ms of mostly waiting on the broker). The *rebalance listener* commits and
drops revoked partitions; for assigned ones it fences earlier owners, reads the checkpoint,
seeks to the committed offset and rebuilds the open panes. Failure is crash-only: a failed
transaction leaves memory ahead of Kafka, so ``run`` raises ``AggregatorFailed`` and the
restart — in place by the role's supervisor (``streams.supervise``), or of the process —
resumes exactly from the last committed transaction (docs/design.md records 1 and 39).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.clock import Clock, SystemClock
from schemas.errors import OperationalError
from streams.aggregate.checkpoint import Checkpoint, decode_checkpoint
from streams.aggregate.config import AggregatorConfig
from streams.aggregate.metrics import AggregatorMetrics
from streams.aggregate.output import PartitionOutput
from streams.aggregate.partition import PartitionAggregator
from streams.lag import consumer_lag
from streams.lifecycle import CLOSE_TIMEOUT_S, bounded

__all__ = ["Aggregator", "AggregatorFailed", "tune_gc"]

log = logging.getLogger(__name__)


class AggregatorFailed(OperationalError, RuntimeError):
    """The stage cannot continue without losing exactly-once; restart it."""


def tune_gc() -> None:
    """Fewer, later garbage collections; call once after start-up (process-wide).

    The hot path allocates short-lived tuples by the million; with the default threshold
    (700) generation 0 runs every few hundred events. Objects alive at start-up are frozen
    out of collection and generation 0 runs every 50,000 allocations (~0.5 µs/event less).
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@dataclass
class _Owned:
    """A partition this worker owns: its state, its transactional output, its committer."""

    aggregator: PartitionAggregator
    output: PartitionOutput
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    due: asyncio.Event = field(default_factory=asyncio.Event)  # commit now: a live pane fired
    committed: tuple[int, Checkpoint] | None = None
    committer: asyncio.Task[None] | None = None


class Aggregator:
    """Stage 1 as a long-running service (see the module docstring for the lifecycle)."""

    def __init__(
        self,
        config: AggregatorConfig,
        *,
        clock: Clock | None = None,
        metrics: AggregatorMetrics | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.metrics = metrics if metrics is not None else AggregatorMetrics()
        self._fresh()

    def _fresh(self) -> None:
        """New clients and empty state: a start after a stop resumes from what is committed."""
        config = self.config
        self._owned: dict[int, _Owned] = {}
        self._assigned = asyncio.Event()  # set by the first completed assignment
        self._stopping = False
        self._failure: BaseException | None = None
        self._running: asyncio.Future[None] | None = None
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=config.bootstrap,
            group_id=config.group_id,
            client_id=config.client_id,
            enable_auto_commit=False,  # offsets move only inside our transactions
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=config.max_batch_records,
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=config.heartbeat_interval_ms,
            group_instance_id=config.group_instance_id,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=config.bootstrap, client_id=f"{config.client_id}-admin"
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._stopping:
            self._fresh()
        await self._admin.start()
        self._consumer.subscribe([self.config.telemetry_topic], listener=_Rebalance(self))
        await self._consumer.start()

    async def run(self) -> None:
        """Consume until ``stop``; raises AggregatorFailed when exactly-once is at stake."""
        self._running = asyncio.get_running_loop().create_future()
        try:
            while not self._stopping:
                self._raise_if_failed()
                await self._poll_once()
            self._raise_if_failed()
        finally:
            self._running.set_result(None)

    async def stop(self) -> None:
        """Finish the batch in hand, commit everything pending, leave the group."""
        if self._stopping:
            return
        self._stopping = True
        if self._running is not None:
            await self._running
        try:
            await asyncio.gather(*(self._release(p) for p in list(self._owned)))
        finally:
            await bounded(self._consumer.stop(), CLOSE_TIMEOUT_S, "stopping stage 1's consumer")
            await bounded(self._admin.close(), CLOSE_TIMEOUT_S, "closing stage 1's admin client")

    @property
    def ready(self) -> bool:
        """Joined, assigned at least once, and not failing: fit to take traffic."""
        return self._assigned.is_set() and self._failure is None and not self._stopping

    async def wait_ready(self, timeout_s: float) -> None:
        """Return once the first assignment is done; TimeoutError after ``timeout_s``."""
        await asyncio.wait_for(self._assigned.wait(), timeout_s)
        self._raise_if_failed()

    @property
    def committed(self) -> bool:
        """Every record handled so far is in a committed transaction (its panes, dead letters
        and checkpoint are durable)."""
        return all(
            owned.committed is not None
            and owned.committed[1].processed_to >= owned.aggregator.position - 1
            for owned in self._owned.values()
            if owned.aggregator.position is not None
            and owned.aggregator.last_activity_ms is not None  # it handled records
        )

    def lag(self) -> dict[int, int]:
        """Records behind the end of each assigned partition (``alertpipe_consumer_lag``)."""
        return consumer_lag(self._consumer)

    def health(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "partitions": sorted(self._owned),
            "open_panes": sum(o.aggregator.open_panes for o in self._owned.values()),
            "failure": None if self._failure is None else repr(self._failure),
            **self.metrics.snapshot(),
        }

    # --- the run loop ---------------------------------------------------------------------

    async def _poll_once(self) -> None:
        # aiokafka returns records only for partitions still assigned at their current
        # position, and processing below has no await: a rebalance never sees half a batch.
        batch = await self._consumer.getmany(
            timeout_ms=self.config.poll_timeout_ms, max_records=self.config.max_batch_records
        )
        now_ms = self.clock.now() * 1000.0
        for tp, records in batch.items():
            owned = self._owned.get(tp.partition)
            if owned is not None:
                owned.aggregator.process(records, now_ms)
        for owned in self._owned.values():
            owned.aggregator.close_idle(now_ms)
            if owned.aggregator.live_fired:
                owned.aggregator.live_fired = False
                owned.due.set()
        self.metrics.batches += 1
        await self._relieve_backpressure()
        # getmany does not suspend while records are buffered: yield once per batch, or the
        # committers and aiokafka's own fetch tasks would starve under a backlog.
        await asyncio.sleep(0)

    async def _relieve_backpressure(self) -> None:
        for owned in list(self._owned.values()):
            if owned.aggregator.pending > self.config.max_pending_output:
                async with owned.lock:
                    try:
                        await self._commit(owned)
                    except Exception as error:  # any failure stops the stage
                        self._fail(error)

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise AggregatorFailed("stage 1 stopped to keep exactly-once") from self._failure

    def _fail(self, error: BaseException) -> None:
        log.error("aggregator failing: %r", error)
        if self._failure is None:
            self._failure = error

    # --- transactions ---------------------------------------------------------------------

    async def _committer(self, owned: _Owned) -> None:
        interval = self.config.commit_interval_ms / 1000.0
        while True:
            await self._until_due(owned, interval)
            async with owned.lock:
                try:
                    await self._commit(owned)
                except Exception as error:  # any failure stops the stage
                    self._fail(error)
                    return

    async def _until_due(self, owned: _Owned, interval: float) -> None:
        """The commit interval, or less when a live pane fired (``owned.due``)."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self.clock.sleep(interval))]
        waits.append(asyncio.ensure_future(owned.due.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        owned.due.clear()

    async def _commit(self, owned: _Owned) -> None:
        """One transaction with everything pending, if there is anything."""
        panes, letters = owned.aggregator.take()
        progress = owned.aggregator.commit_point()  # taken together: they match
        if not panes and not letters and progress == owned.committed:
            return
        started = time.perf_counter()
        timeout_s = self.config.transaction_timeout_ms / 1000.0
        await owned.output.commit(panes, letters, progress, timeout_s=timeout_s)
        self.metrics.transaction_time(time.perf_counter() - started)
        owned.committed = progress

    # --- ownership (called by the rebalance listener and stop) ----------------------------

    async def _acquire(self, partition: int) -> None:
        output = PartitionOutput(self.config, partition)
        await output.start()  # fences earlier owners first: the checkpoint below is final
        tp = TopicPartition(self.config.telemetry_topic, partition)
        committed, checkpoint = await self._read_progress(tp)
        offset = committed if committed is not None else await self._beginning(tp)
        # From here on no await until the partition is registered: records drained for it
        # before (ignored by the run loop: not ours yet) are fetched again from this seek.
        self._consumer.seek(tp, offset)
        aggregator = PartitionAggregator(
            self.config.telemetry_topic,
            partition,
            self.config.rules,
            checkpoint,
            offset,
            metrics=self.metrics,
        )
        owned = _Owned(aggregator, output, committed=None)
        owned.committer = asyncio.create_task(self._committer(owned))
        self._owned[partition] = owned
        log.info("partition %d: resume at %s, checkpoint %s", partition, offset, checkpoint)

    async def _beginning(self, tp: TopicPartition) -> int:
        offsets = await self._consumer.beginning_offsets([tp])
        return int(offsets[tp])

    async def _read_progress(self, tp: TopicPartition) -> tuple[int | None, Checkpoint | None]:
        committed = await self._admin.list_consumer_group_offsets(
            self.config.group_id, partitions=[tp]
        )
        found = committed.get(tp)
        if found is None or found.offset < 0:
            return None, None
        return found.offset, decode_checkpoint(found.metadata)

    async def _release(self, partition: int) -> None:
        """Commit what is pending, then stop the partition's producer."""
        owned = self._owned.pop(partition, None)
        if owned is None:
            return
        async with owned.lock:  # the committer is asleep or waiting for the lock: cancel it
            if owned.committer is not None:
                owned.committer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await owned.committer
            try:
                if self._failure is None:
                    await self._commit(owned)
                    handled = owned.aggregator.position
                    log.info(
                        "partition %d: released; committed everything handled (through offset %s)",
                        partition,
                        None if handled is None else handled - 1,
                    )
            finally:
                await owned.output.stop()

    async def _on_revoked(self, partitions: set[int]) -> None:
        try:
            await asyncio.gather(*(self._release(p) for p in partitions))
        except Exception as error:  # aiokafka would only log it
            self._fail(error)

    async def _on_assigned(self, partitions: set[int]) -> None:
        try:
            await asyncio.gather(*(self._acquire(p) for p in partitions))
            self._assigned.set()
        except Exception as error:  # aiokafka would only log it
            self._fail(error)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Routes aiokafka's rebalance callbacks (awaited by its coordinator) to the service."""

    def __init__(self, service: Aggregator) -> None:
        self._service = service

    def _mine(self, partitions: set[TopicPartition]) -> set[int]:
        return {
            tp.partition for tp in partitions if tp.topic == self._service.config.telemetry_topic
        }

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._service._on_revoked(self._mine(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._service._on_assigned(self._mine(assigned))
