"""The evaluator: a consume → evaluate → produce loop over the panes topic, transactional.

Per assigned partition (panes are keyed by service, so a partition holds whole services) it
keeps an ``Evaluation`` and a transactional producer whose ``transactional.id`` is derived
from the partition, which fences any earlier owner; each batch's decisions, state changes and
input offsets of a partition go out in one transaction, and so do those of the idle ticks that
move a silent partition on (docs/policy.md, "Silence is judged too"). On assignment it
restores the alert states from the compacted state topic and rebuilds the pane buffers
without deciding anything again, so a restart neither re-fires nor forgets an alert
(docs/design.md record 5).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ProducerFenced
from pydantic import ValidationError

from schemas.decisions import Decision
from schemas.errors import OperationalError
from schemas.panes import PaneSummary
from streams.evaluate import codec
from streams.evaluate.engine import EngineConfig, Evaluation, Output
from streams.evaluate.kafka import (
    Outgoing,
    TransactionalSender,
    ensure_state_topic,
    last_timestamp_before,
    make_reader,
    read_range,
)
from streams.evaluate.rollup import MINUTE_MS
from streams.lag import consumer_lag
from streams.lifecycle import CLOSE_TIMEOUT_S, bounded
from streams.policy.model import Policy

__all__ = ["Evaluator", "EvaluatorConfig", "EvaluatorFailed", "encode_decision"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluatorConfig:
    bootstrap: str
    panes_topic: str = "metrics.panes"
    decisions_topic: str = "alerts.decisions"
    state_topic: str = "alerts.state"
    group_id: str = "alertpipe-evaluator"
    # Producer of partition p: "{prefix}.{panes topic}.{p}", the same in every instance: that
    # is what fences the previous owner of a partition (aiokafka has no KIP-447 fencing).
    transactional_prefix: str = "alertpipe-evaluator"
    client_id: str = "alertpipe-evaluator"
    replication_factor: int = 1
    # Where a brand-new group starts; either way the buffers get the panes just before it.
    auto_offset_reset: Literal["latest", "earliest"] = "latest"
    rebuild_margin_ms: int = 30_000
    idle_after_ms: int = 10_000  # see EngineConfig; also the wall-clock wait of an idle tick
    checkpoint_every_ms: int = 30_000
    poll_timeout_ms: int = 100
    max_records: int = 20_000
    session_timeout_ms: int = 10_000
    # A transaction not committed by then is taken as lost with the broker: aborted, and the
    # partition restored from what is committed (see ``streams.evaluate.kafka``).
    transaction_timeout_ms: int = 10_000

    def transactional_id(self, partition: int) -> str:
        return f"{self.transactional_prefix}.{self.panes_topic}.{partition}"

    @property
    def engine(self) -> EngineConfig:
        return EngineConfig(
            idle_after_ms=self.idle_after_ms,
            margin_ms=self.rebuild_margin_ms,
            checkpoint_every_ms=self.checkpoint_every_ms,
        )


def encode_decision(decision: Decision) -> bytes:
    return orjson.dumps(decision.model_dump(mode="json"))


@dataclass
class _Stats:
    batches: int = 0
    transactions: int = 0
    panes: int = 0
    rebuilt_panes: int = 0
    bad_panes: int = 0
    stale_records: int = 0
    decisions: int = 0
    refinements: int = 0  # later revisions of panes applied (late events stage 1 counted)
    reversals: int = 0  # verdicts a refinement changed
    idle_ticks: int = 0
    state_records: int = 0
    restores: int = 0
    last_batch_at: float | None = None
    last_error: str | None = None


@dataclass
class _Owned:
    """One assigned partition: its evaluation, its transactional producer, and the offset
    of the next record to evaluate (records before it were evaluated and committed)."""

    engine: Evaluation
    sender: TransactionalSender
    position: int


def _now_ms() -> int:
    """The wall clock the engine measures silence with (monotonic: immune to clock steps)."""
    return int(time.monotonic() * 1000)


class EvaluatorFailed(OperationalError, RuntimeError):
    """The evaluator cannot go on without risking a lost or duplicated decision."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, evaluator: Evaluator) -> None:
        self._evaluator = evaluator

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._evaluator._revoke(list(revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._evaluator._assign(list(assigned))


class Evaluator:
    """Stage 2 as a long-running service: ``start``, ``run``, ``stop``; ``ready``, ``health``."""

    def __init__(self, config: EvaluatorConfig, policy: Policy) -> None:
        self.config = config
        self.policy = policy
        self.stats = _Stats()
        self._owned: dict[TopicPartition, _Owned] = {}
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()  # the run loop is not running
        self._stopped.set()
        self._failure: BaseException | None = None
        self._running = False
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Create the state topic if missing and join the group (restores on assignment).
        Started again after a stop, it begins afresh from what is committed."""
        cfg = self.config
        self._stopping.clear()
        self._failure = None
        self._ready.clear()
        self._owned = {}
        await ensure_state_topic(
            cfg.bootstrap, cfg.state_topic, cfg.panes_topic, cfg.replication_factor
        )
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=cfg.bootstrap, client_id=f"{cfg.client_id}-admin"
        )
        await self._admin.start()
        self._reader = make_reader(cfg.bootstrap, f"{cfg.client_id}-restore")
        await self._reader.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.bootstrap,
            client_id=cfg.client_id,
            group_id=cfg.group_id,
            enable_auto_commit=False,  # offsets move only inside our transactions
            isolation_level="read_committed",
            auto_offset_reset=cfg.auto_offset_reset,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=max(100, cfg.session_timeout_ms // 5),
        )
        self._consumer.subscribe([cfg.panes_topic], listener=_Rebalance(self))
        await self._consumer.start()

    async def run(self) -> None:
        """Consume until ``stop``; raises ``EvaluatorFailed`` when it must not go on."""
        consumer = self._require(self._consumer)
        self._running = True
        self._stopped.clear()
        try:
            while not self._stopping.is_set():
                self._raise_if_failed()
                batch = await consumer.getmany(
                    timeout_ms=self.config.poll_timeout_ms, max_records=self.config.max_records
                )
                if batch and not self._stopping.is_set():
                    await self._handle(batch)
                if not self._stopping.is_set():
                    await self._idle_ticks()
            self._raise_if_failed()
        finally:
            self._running = False
            self._stopped.set()

    async def stop(self) -> None:
        """Finish the batch in hand, leave the group, close the clients."""
        self._stopping.set()
        await self._stopped.wait()
        async with self._lock:
            owned, self._owned = list(self._owned.values()), {}
            for one in owned:
                await one.sender.stop()
            for what, client in (("consumer", self._consumer), ("reader", self._reader)):
                if client is not None:
                    await bounded(client.stop(), CLOSE_TIMEOUT_S, f"stopping stage 2's {what}")
            if self._admin is not None:
                await bounded(self._admin.close(), CLOSE_TIMEOUT_S, "closing stage 2's admin")
            self._consumer = self._reader = None
            self._admin = None
            self._ready.clear()

    @property
    def ready(self) -> bool:
        """Joined the group, restored what it was given, and not failing."""
        return self._ready.is_set() and self._failure is None and not self._stopping.is_set()

    async def wait_ready(self) -> None:
        """Until ``ready`` (wrap in ``asyncio.timeout`` to bound it)."""
        await self._ready.wait()
        self._raise_if_failed()

    def lag(self) -> dict[int, int]:
        """Records behind the end of each assigned partition (``alertpipe_consumer_lag``)."""
        return consumer_lag(self._consumer)

    def health(self) -> dict[str, Any]:
        s = self.stats
        return {
            "ready": self.ready,
            "running": self._running,
            "partitions": sorted(tp.partition for tp in self._owned),
            "batches": s.batches,
            "transactions": s.transactions,
            "panes": s.panes,
            "rebuilt_panes": s.rebuilt_panes,
            "bad_panes": s.bad_panes,
            "stale_records": s.stale_records,
            "decisions": s.decisions,
            "refinements": s.refinements,
            "reversals": s.reversals,
            "idle_ticks": s.idle_ticks,
            "alerts": self._alert_states(),
            "state_records": s.state_records,
            "restores": s.restores,
            "last_batch_at": s.last_batch_at,
            "last_error": s.last_error,
            "failure": None if self._failure is None else repr(self._failure),
        }

    def _alert_states(self) -> dict[str, int]:
        """Alerts by state over the partitions this process owns (``no_data`` and ``warming``
        are reported here and in ``/metrics``, never silently passed)."""
        total: dict[str, int] = {}
        for owned in list(self._owned.values()):
            for state, n in owned.engine.alert_states().items():
                total[state] = total.get(state, 0) + n
        return total

    @staticmethod
    def _require(client: Any) -> Any:
        if client is None:
            raise RuntimeError("the evaluator is not started")
        return client

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise EvaluatorFailed(str(self._failure)) from self._failure

    def _fail(self, error: BaseException) -> None:
        log.error("evaluator failed: %r", error)
        self.stats.last_error = repr(error)
        self._failure = self._failure or error
        self._ready.set()  # wake wait_ready so it can raise

    # --- batches -------------------------------------------------------------------------

    async def _handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        async with self._lock:
            commits = []
            for tp, records in batch.items():
                owned = self._owned.get(tp)
                fresh = self._fresh(owned, records)
                if owned is None or not fresh:
                    continue  # revoked, or fetched before a restore re-read it
                out = self._evaluate(owned.engine, fresh)
                owned.position = await self._consumed_to(tp, fresh[-1].offset + 1)
                offsets = {tp: owned.position}
                commits.append(self._commit(tp, owned, self._messages(out, tp.partition), offsets))
            await asyncio.gather(*commits)
            self.stats.batches += 1
            self.stats.last_batch_at = time.time()

    async def _idle_ticks(self) -> None:
        """Move every wholly quiet partition's event time on (see ``Evaluation.idle_tick``);
        what that decides is committed like a batch's output, with no input offsets."""
        async with self._lock:
            commits = []
            for tp, owned in list(self._owned.items()):
                out = owned.engine.idle_tick(_now_ms())
                if out:
                    self.stats.idle_ticks += 1
                    commits.append(self._commit(tp, owned, self._messages(out, tp.partition), {}))
            await asyncio.gather(*commits)

    async def _consumed_to(self, tp: TopicPartition, after_last: int) -> int:
        """The offset to commit: past the last record and past the transaction markers
        that follow it (the consumer's position), so that a caught-up group is at the end."""
        position = await self._require(self._consumer).position(tp)
        return max(after_last, int(position))

    def _fresh(self, owned: _Owned | None, records: list[Any]) -> list[Any]:
        """The records not evaluated yet: a batch fetched across a rebalance may repeat some
        (they are re-read from the restored position); it is never dropped, so none is lost."""
        if owned is None:
            return []
        fresh = [r for r in records if r.offset >= owned.position]
        self.stats.stale_records += len(records) - len(fresh)
        return fresh

    def _evaluate(self, engine: Evaluation, records: list[Any]) -> Output:
        now = _now_ms()
        for record in records:
            pane = self._decode(record)
            if pane is not None:
                engine.add(pane, arrived_ms=now)
        out = engine.advance(now)
        counts = engine.take_counts()
        self.stats.refinements += counts["refinements"]
        self.stats.reversals += counts["reversals"]
        return out

    def _decode(self, record: Any, *, rebuilding: bool = False) -> PaneSummary | None:
        try:
            pane = PaneSummary.model_validate_json(record.value)
        except (ValidationError, ValueError) as error:
            if not rebuilding:
                self.stats.bad_panes += 1
                log.warning("skipping malformed pane at offset %s: %s", record.offset, error)
            return None
        if rebuilding:
            self.stats.rebuilt_panes += 1
        else:
            self.stats.panes += 1
        return pane

    def _messages(self, out: Output, partition: int) -> list[Outgoing]:
        cfg = self.config
        messages = [
            Outgoing(cfg.decisions_topic, d.service.encode(), encode_decision(d))
            for d in out.decisions
        ]
        messages.extend(
            Outgoing(cfg.state_topic, s.key.encode(), codec.encode(s.value), partition)
            for s in out.state
        )
        self.stats.decisions += len(out.decisions)
        self.stats.state_records += len(out.state)
        for decision in out.decisions:
            log.info("decision %s: %s", decision.decision_id, decision.summary)
        return messages

    async def _commit(
        self,
        tp: TopicPartition,
        owned: _Owned,
        messages: list[Outgoing],
        offsets: dict[TopicPartition, int],
    ) -> None:
        try:
            await owned.sender.commit(messages, offsets, self.config.group_id)
        except ProducerFenced as error:  # another owner took the partition: stop at once
            self._fail(error)
            self._stopping.set()
            return
        except Exception as error:  # aborted: rebuild the partition from what is committed
            self.stats.last_error = f"transaction aborted: {error!r}"
            log.exception("partition %s: transaction aborted; restoring it", tp.partition)
            await self._release(tp)
            await self._acquire(tp)
            return
        self.stats.transactions += 1

    # --- assignment and restore ----------------------------------------------------------

    async def _revoke(self, revoked: list[TopicPartition]) -> None:
        try:
            async with self._lock:
                for tp in revoked:
                    await self._release(tp)
        except Exception as error:  # aiokafka would only log it
            self._fail(error)

    async def _assign(self, assigned: list[TopicPartition]) -> None:
        try:
            async with self._lock:
                for tp in assigned:
                    await self._acquire(tp)
            self._ready.set()
        except Exception as error:  # aiokafka would only log it
            self._fail(error)

    async def _release(self, tp: TopicPartition) -> None:
        owned = self._owned.pop(tp, None)
        if owned is not None:
            await owned.sender.stop()

    async def _acquire(self, tp: TopicPartition) -> None:
        """Fence the previous owner, then restore: state, pane buffers, position."""
        cfg = self.config
        sender = TransactionalSender(
            cfg.bootstrap,
            cfg.transactional_id(tp.partition),
            f"{cfg.client_id}-p{tp.partition}",
            cfg.transaction_timeout_ms / 1000.0,
        )
        await sender.start()  # aborts the previous owner's open transaction: reads are final
        engine = Evaluation(self.policy, cfg.engine)
        await self._restore_state(engine, tp.partition)
        start = await self._start_offset(tp)
        await self._rebuild_panes(engine, tp, start)
        self._require(self._consumer).seek(tp, start)
        self._owned[tp] = _Owned(engine, sender, start)
        self.stats.restores += 1
        log.info("partition %s restored; resuming at offset %s", tp.partition, start)

    async def _restore_state(self, engine: Evaluation, partition: int) -> None:
        reader = self._require(self._reader)
        tp = TopicPartition(self.config.state_topic, partition)
        end = (await reader.end_offsets([tp]))[tp]
        latest: dict[bytes, dict[str, Any] | None] = {}
        async for record in read_range(reader, tp, 0, end):
            latest[record.key] = codec.decode(record.value)
        for value in latest.values():
            if value is not None:
                engine.restore(value)

    async def _start_offset(self, tp: TopicPartition) -> int:
        admin = self._require(self._admin)
        committed = await admin.list_consumer_group_offsets(self.config.group_id, partitions=[tp])
        found = committed.get(tp)
        if found is not None and found.offset >= 0:
            return int(found.offset)
        reader = self._require(self._reader)
        if self.config.auto_offset_reset == "earliest":
            return int((await reader.beginning_offsets([tp]))[tp])
        return int((await reader.end_offsets([tp]))[tp])

    async def _rebuild_panes(self, engine: Evaluation, tp: TopicPartition, end: int) -> None:
        reader = self._require(self._reader)
        newest = await last_timestamp_before(reader, tp, end)
        if newest is None:
            return
        lookback = self.policy.longest_window_ms + self.config.rebuild_margin_ms
        if self.policy.slos:  # back to the restored roll-ups' end (checkpointed each minute)
            lookback += 2 * MINUTE_MS
        found = await reader.offsets_for_times({tp: newest - lookback})
        start = found[tp].offset if found.get(tp) is not None else end
        # A restart does not know how long the partition was quiet before it: the rebuilt
        # panes count as arriving now, so a silence is judged idle_after_ms after the restart
        # (late, never on a guessed time; alerts judged before it are in the restored state).
        now = _now_ms()
        async for record in read_range(reader, tp, start, end):
            pane = self._decode(record, rebuilding=True)
            if pane is not None:
                engine.add(pane, evaluate=False, arrived_ms=now)
