"""Where decisions come from: the ``alerts.decisions`` topic, read in batches, committed by hand.

The manager commits a batch only after every decision in it is durable in PostgreSQL; if it
fails mid-batch, ``rewind`` goes back to the last commit so nothing is skipped (re-reading is
harmless: decisions are recorded idempotently on ``decision_id``).
"""

from __future__ import annotations

from typing import Protocol

from aiokafka import AIOKafkaConsumer

__all__ = ["DecisionSource", "KafkaDecisionSource"]


class DecisionSource(Protocol):
    async def start(self) -> None: ...

    async def batch(self, timeout_s: float) -> list[bytes]: ...

    async def commit(self) -> None: ...

    async def rewind(self) -> None: ...

    async def stop(self) -> None: ...


class KafkaDecisionSource:
    """Started again after a stop, it is a new group member reading on from the commit."""

    def __init__(self, bootstrap: str, topic: str, group_id: str, max_records: int = 500) -> None:
        self._max = max_records
        self._stopped = False
        self._bootstrap, self._topic, self._group = bootstrap, topic, group_id
        self._consumer = self._new_consumer()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )

    async def start(self) -> None:
        if self._stopped:
            self._consumer = self._new_consumer()
        self._stopped = False
        await self._consumer.start()

    async def batch(self, timeout_s: float) -> list[bytes]:
        found = await self._consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=self._max
        )
        return [record.value for records in found.values() for record in records]

    async def commit(self) -> None:
        await self._consumer.commit()

    async def rewind(self) -> None:
        """Back to the last commit. A partition this group never committed goes back to its
        beginning, where the group started reading it (``auto_offset_reset``): aiokafka's
        ``seek_to_committed`` leaves such a partition (and one committed at 0) where it is,
        which would skip the batch that failed."""
        for tp in self._consumer.assignment():
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)

    async def stop(self) -> None:
        self._stopped = True
        await self._consumer.stop()  # the role's supervisor bounds it (the broker may be gone)

    @property
    def consumer(self) -> AIOKafkaConsumer:
        """For the composition root's lag report (``alertpipe_consumer_lag``): read it at each
        scrape, as a restart replaces it."""
        return self._consumer
