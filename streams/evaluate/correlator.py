"""The cascade correlator as a service: one consumer over every decisions partition.

Plan S4 needs a view across services ("5+ critical alerts"), so this is a single consumer
that reads all partitions of the decisions topic (read_committed), keeps the CRITICAL alerts
that are firing, and publishes its own S4 decision when the cascade's state changes. Its
state lives under one key in partition 0 of the compacted state topic and is committed in
the same transaction as its input offsets, like the evaluator's.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ProducerFenced
from pydantic import ValidationError

from schemas.decisions import Decision
from streams.evaluate import codec
from streams.evaluate.correlate import Cascade, correlate, decode_cascade, encode_cascade
from streams.evaluate.kafka import (
    Outgoing,
    TransactionalSender,
    ensure_state_topic,
    make_reader,
    partition_count,
    read_range,
)
from streams.evaluate.service import encode_decision
from streams.lag import consumer_lag
from streams.lifecycle import CLOSE_TIMEOUT_S, bounded
from streams.policy.model import CascadePolicy
from streams.topics import TopicMissing

__all__ = ["Correlator", "CorrelatorConfig"]

log = logging.getLogger(__name__)

_STATE_PARTITION = 0


@dataclass(frozen=True)
class CorrelatorConfig:
    bootstrap: str
    decisions_topic: str = "alerts.decisions"
    state_topic: str = "alerts.state"
    panes_topic: str = "metrics.panes"  # the state topic is co-partitioned with it
    group_id: str = "alertpipe-correlator"
    transactional_id: str = "alertpipe-correlator"
    client_id: str = "alertpipe-correlator"
    replication_factor: int = 1
    poll_timeout_ms: int = 100
    transaction_timeout_ms: int = 10_000  # as the evaluator's

    def state_key(self, name: str, drill: str | None = None) -> bytes:
        base = f"cascade:{name}"
        return (base if drill is None else f"{base}|drill:{drill}").encode()


class Correlator:
    """S4 across services: ``start``, ``run``, ``stop``; ``ready``, ``health``."""

    def __init__(self, config: CorrelatorConfig, policy: CascadePolicy) -> None:
        self.config = config
        self.policy = policy
        self.cascade = Cascade()
        self.drills: dict[str, Cascade] = {}  # each DR drill's own cascade, by drill id
        self.decisions = 0
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()  # the run loop is not running
        self._stopped.set()
        self._ready = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._sender: TransactionalSender | None = None

    async def start(self) -> None:
        """Restore the cascade and read on from the committed offsets (also after a stop)."""
        cfg = self.config
        self._stopping.clear()
        await ensure_state_topic(
            cfg.bootstrap, cfg.state_topic, cfg.panes_topic, cfg.replication_factor
        )
        self._sender = TransactionalSender(
            cfg.bootstrap, cfg.transactional_id, cfg.client_id, cfg.transaction_timeout_ms / 1000
        )
        await self._sender.start()
        self.cascade, self.drills = await self._restore_state()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=cfg.bootstrap,
            client_id=cfg.client_id,
            group_id=cfg.group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await self._consumer.start()
        await self._assign_all(self._consumer)
        self._ready.set()

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> None:
        topic = self.config.decisions_topic
        count = await partition_count(self.config.bootstrap, topic)
        if not count:
            raise TopicMissing(topic)
        tps = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            committed = await consumer.committed(tp)
            consumer.seek(tp, ends[tp] if committed is None else committed)

    async def _restore_state(self) -> tuple[Cascade, dict[str, Cascade]]:
        cfg = self.config
        reader = make_reader(cfg.bootstrap, f"{cfg.client_id}-restore")
        await reader.start()
        try:
            tp = TopicPartition(cfg.state_topic, _STATE_PARTITION)
            end = (await reader.end_offsets([tp]))[tp]
            cascade, drills = Cascade(), {}
            key = cfg.state_key(self.policy.name)
            drill_prefix = key + b"|drill:"
            async for record in read_range(reader, tp, 0, end):
                ours = record.key == key or (record.key or b"").startswith(drill_prefix)
                value = codec.decode(record.value) if ours else None
                if value is None:
                    continue
                found = decode_cascade(value)
                if found.drill is None:
                    cascade = found
                else:
                    drills[found.drill] = found
            return cascade, drills
        finally:
            await bounded(reader.stop(), CLOSE_TIMEOUT_S, "stopping the correlator's reader")

    async def run(self) -> None:
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("the correlator is not started")
        self._stopped.clear()
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=self.config.poll_timeout_ms)
                if batch:
                    await self._handle(batch)
        finally:
            self._stopped.set()

    async def stop(self) -> None:
        """Finish the batch in hand, then close the clients."""
        self._stopping.set()
        await self._stopped.wait()
        if self._consumer is not None:
            await bounded(self._consumer.stop(), CLOSE_TIMEOUT_S, "stopping the correlator")
        if self._sender is not None:
            await self._sender.stop()
        self._consumer, self._sender = None, None
        self._ready.clear()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def lag(self) -> dict[int, int]:
        """Records behind the end of each assigned partition (``alertpipe_consumer_lag``)."""
        return consumer_lag(self._consumer)

    def health(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "state": self.cascade.record.state,
            "critical_firing": len(self.cascade.members),
            "decisions": self.decisions,
        }

    def _cascades(self) -> dict[str | None, Cascade]:
        found: dict[str | None, Cascade] = {None: self.cascade}
        found.update(self.drills)
        return found

    async def _handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        decisions = sorted(
            (d for records in batch.values() for d in self._decode(records)),
            key=lambda d: d.at_ms,
        )
        before_batch = self._cascades()
        cascades = dict(before_batch)
        made = []
        for decision in decisions:
            before = cascades.get(decision.drill) or Cascade(drill=decision.drill)
            cascades[decision.drill], decision_made = correlate(before, decision, self.policy)
            if decision_made is not None:
                made.append(decision_made)
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        messages = [
            Outgoing(self.config.decisions_topic, d.service.encode(), encode_decision(d))
            for d in made
        ]
        for drill, cascade in cascades.items():
            if cascade == before_batch.get(drill):
                continue
            value = codec.encode(encode_cascade(self.policy.name, cascade))
            key = self.config.state_key(self.policy.name, drill)
            messages.append(Outgoing(self.config.state_topic, key, value, _STATE_PARTITION))
        await self._commit(messages, offsets, cascades, len(made))

    async def _commit(
        self,
        messages: list[Outgoing],
        offsets: dict[TopicPartition, int],
        cascades: dict[str | None, Cascade],
        made: int,
    ) -> None:
        if self._sender is None:
            return
        try:
            await self._sender.commit(messages, offsets, self.config.group_id)
        except ProducerFenced:
            self._stopping.set()
            raise
        except Exception:
            log.exception("transaction aborted; rewinding to the committed offsets")
            self.cascade, self.drills = await self._restore_state()
            if self._consumer is not None:
                await self._assign_all(self._consumer)
            return
        self.cascade = cascades[None]
        self.drills = {d: c for d, c in cascades.items() if d is not None}
        self.decisions += made

    def _decode(self, records: list[Any]) -> list[Decision]:
        decisions = []
        for record in records:
            try:
                decisions.append(Decision.model_validate_json(record.value))
            except (ValidationError, ValueError):
                log.warning("skipping malformed decision at offset %s", record.offset)
        return decisions
