"""The evaluator: a consume → evaluate → produce loop over the panes topic, transactional.

Per assigned partition (panes are keyed by service, so a partition holds whole services) it
keeps an ``Evaluation``: pane buffers and alert states. Each batch's decisions, state
changes and input offsets go out in one Kafka transaction. On assignment it restores the
partition's alert states from the compacted state topic and rebuilds the pane buffers by
re-reading the panes just before the committed offset, without deciding anything again —
so a restart neither re-fires nor forgets an alert, and a pending alert keeps its time.

    evaluator = Evaluator(EvaluatorConfig(bootstrap="127.0.0.1:19092"), load_policy())
    await evaluator.start()
    task = asyncio.create_task(evaluator.run())
    ...
    await evaluator.stop()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ProducerFenced
from pydantic import ValidationError

from schemas.decisions import Decision
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
from streams.policy.model import Policy

__all__ = ["Evaluator", "EvaluatorConfig", "encode_decision"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluatorConfig:
    bootstrap: str
    panes_topic: str = "metrics.panes"
    decisions_topic: str = "alerts.decisions"
    state_topic: str = "alerts.state"
    group_id: str = "alertpipe-evaluator"
    # One per running instance, stable across its restarts: a restarted instance fences
    # the dead one and aborts whatever transaction it left open.
    transactional_id: str = "alertpipe-evaluator-0"
    client_id: str = "alertpipe-evaluator"
    replication_factor: int = 1
    # Where a brand-new group starts; either way the buffers get the panes just before it.
    auto_offset_reset: Literal["latest", "earliest"] = "latest"
    rebuild_margin_ms: int = 30_000
    idle_after_ms: int = 2_000
    checkpoint_every_ms: int = 30_000
    poll_timeout_ms: int = 100
    max_records: int = 20_000
    session_timeout_ms: int = 10_000

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
    panes: int = 0
    bad_panes: int = 0
    decisions: int = 0
    state_records: int = 0
    restores: int = 0
    last_batch_at: float | None = None
    last_error: str | None = None
    partitions: list[int] = field(default_factory=list)


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
        self._engines: dict[TopicPartition, Evaluation] = {}
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._running = False
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._sender: TransactionalSender | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Create the state topic if missing, fence older instances, join the group."""
        cfg = self.config
        await ensure_state_topic(
            cfg.bootstrap, cfg.state_topic, cfg.panes_topic, cfg.replication_factor
        )
        self._sender = TransactionalSender(cfg.bootstrap, cfg.transactional_id, cfg.client_id)
        await self._sender.start()
        self._reader = make_reader(cfg.bootstrap, f"{cfg.client_id}-restore")
        await self._reader.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.bootstrap,
            client_id=cfg.client_id,
            group_id=cfg.group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset=cfg.auto_offset_reset,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=max(100, cfg.session_timeout_ms // 5),
        )
        await self._consumer.start()
        self._consumer.subscribe([cfg.panes_topic], listener=_Rebalance(self))

    async def run(self) -> None:
        """Consume until ``stop``; each batch is one transaction."""
        consumer = self._require(self._consumer)
        self._running = True
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(
                    timeout_ms=self.config.poll_timeout_ms, max_records=self.config.max_records
                )
                if batch:
                    await self._handle(batch)
        finally:
            self._running = False

    async def stop(self) -> None:
        """Finish the batch in hand, leave the group, close the clients."""
        self._stopping.set()
        async with self._lock:
            for client in (self._consumer, self._reader):
                if client is not None:
                    await client.stop()
            if self._sender is not None:
                await self._sender.stop()
            self._consumer = self._reader = None
            self._sender = None
            self._ready.clear()

    @property
    def ready(self) -> bool:
        """Joined the group and restored the state of the partitions it was given."""
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        """Until ``ready`` (wrap in ``asyncio.timeout`` to bound it)."""
        await self._ready.wait()

    def health(self) -> dict[str, Any]:
        s = self.stats
        return {
            "ready": self.ready,
            "running": self._running,
            "partitions": sorted(tp.partition for tp in self._engines),
            "batches": s.batches,
            "panes": s.panes,
            "bad_panes": s.bad_panes,
            "decisions": s.decisions,
            "state_records": s.state_records,
            "restores": s.restores,
            "last_batch_at": s.last_batch_at,
            "last_error": s.last_error,
        }

    @staticmethod
    def _require(client: Any) -> Any:
        if client is None:
            raise RuntimeError("the evaluator is not started")
        return client

    # --- batches -------------------------------------------------------------------------

    async def _handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        async with self._lock:
            messages: list[Outgoing] = []
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batch.items():
                engine = self._engines.get(tp)
                if engine is None or not records:
                    continue  # revoked while the batch was in hand
                out = self._evaluate(engine, records)
                messages.extend(self._messages(out, tp.partition))
                offsets[tp] = records[-1].offset + 1
            if offsets:
                await self._commit(messages, offsets)

    def _evaluate(self, engine: Evaluation, records: list[Any]) -> Output:
        for record in records:
            pane = self._decode(record)
            if pane is not None:
                engine.add(pane)
        return engine.advance()

    def _decode(self, record: Any) -> PaneSummary | None:
        try:
            pane = PaneSummary.model_validate_json(record.value)
        except (ValidationError, ValueError) as error:
            self.stats.bad_panes += 1
            log.warning("skipping malformed pane at %s: %s", record.offset, error)
            return None
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

    async def _commit(self, messages: list[Outgoing], offsets: dict[TopicPartition, int]) -> None:
        sender = self._require(self._sender)
        try:
            await sender.commit(messages, offsets, self.config.group_id)
        except ProducerFenced:
            self.stats.last_error = "fenced by a newer instance with the same transactional id"
            self._stopping.set()
            raise
        except Exception as error:  # the transaction was aborted: rebuild from Kafka
            self.stats.last_error = f"transaction aborted: {error!r}"
            log.exception("transaction aborted; restoring the assigned partitions")
            await self._restore_all()
            return
        self.stats.batches += 1
        self.stats.last_batch_at = time.time()

    # --- assignment and restore ----------------------------------------------------------

    async def _revoke(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            for tp in revoked:
                self._engines.pop(tp, None)

    async def _assign(self, assigned: list[TopicPartition]) -> None:
        async with self._lock:
            for tp in assigned:
                await self._restore(tp)
        self._ready.set()

    async def _restore_all(self) -> None:
        for tp in list(self._engines):
            await self._restore(tp)

    async def _restore(self, tp: TopicPartition) -> None:
        """State from the state topic, buffers from the panes before the committed offset."""
        engine = Evaluation(self.policy, self.config.engine)
        await self._restore_state(engine, tp.partition)
        start = await self._start_offset(tp)
        await self._rebuild_panes(engine, tp, start)
        self._require(self._consumer).seek(tp, start)
        self._engines[tp] = engine
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
        committed = await self._require(self._consumer).committed(tp)
        if committed is not None:
            return int(committed)
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
        found = await reader.offsets_for_times({tp: newest - lookback})
        start = found[tp].offset if found.get(tp) is not None else end
        async for record in read_range(reader, tp, start, end):
            pane = self._decode(record)
            if pane is not None:
                engine.add(pane, evaluate=False)
