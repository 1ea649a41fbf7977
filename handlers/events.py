"""Lifecycle events from the outbox to the ``incidents`` topic (key: service), in order.

Each event row is written in the transaction of the step it describes; this publisher sends
unpublished rows and marks them after the broker acknowledged. A crash in between re-sends
them: subscribers dedup on ``event_id`` (the documented contract of ``IncidentEvent``).
"""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaProducer

from handlers.outbox.ports import OutboxStore
from handlers.service import LoopService
from schemas.clock import Clock

__all__ = ["EventPublisher", "EventSink", "KafkaEventSink"]


class EventSink(Protocol):
    async def publish(self, key: str, value: bytes) -> None:
        """Return once the broker has the message."""
        ...


class KafkaEventSink:
    """Publishes to one topic with an idempotent producer, acks=all."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            client_id="alertpipe-incidents",
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, key: str, value: bytes) -> None:
        assert self._producer is not None, "start() the sink first"
        await self._producer.send_and_wait(self.topic, value, key=key.encode())


class EventPublisher(LoopService):
    name = "incident-events"

    def __init__(
        self, store: OutboxStore, sink: EventSink, clock: Clock, poll_s: float, batch: int = 100
    ) -> None:
        super().__init__(clock, poll_s)
        self._store = store
        self._sink = sink
        self._batch = batch
        self.published = 0

    async def tick(self) -> bool:
        pending = await self._store.unpublished_events(self._batch)
        if not pending:
            return False
        for event in pending:
            await self._sink.publish(event.service, event.body)
        await self._store.mark_published([e.seq for e in pending], self.clock.now())
        self.published += len(pending)
        return True
