"""The transactional edge of one input partition: panes, dead letters and progress, atomically.

One transactional producer per input partition, with ``transactional.id`` derived from the
partition. Starting it (InitProducerId) bumps the id's epoch, which fences every earlier
owner of the partition — a worker that lost the partition in a rebalance, or a paused zombie
— and aborts its open transaction, so afterwards the committed offset and checkpoint are
final and safe to read. (aiokafka has no KIP-447 group-metadata fencing, which is why the id
is per partition rather than per process.)

Each ``commit`` is one transaction: the closed panes, the dead letters, and the consumer
group offset with its checkpoint as metadata (``send_offsets_to_transaction``). Consumers of
the panes and dead-letter topics read with ``isolation_level="read_committed"``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, TopicPartition

from streams.aggregate.checkpoint import Checkpoint, encode_checkpoint
from streams.aggregate.config import AggregatorConfig
from streams.aggregate.deadletter import DeadLetter
from streams.aggregate.partition import ClosedPane

__all__ = ["PartitionOutput"]


class PartitionOutput:
    """Transactions of one input partition."""

    def __init__(self, config: AggregatorConfig, partition: int) -> None:
        self._config = config
        self._source = TopicPartition(config.telemetry_topic, partition)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=config.bootstrap,
            client_id=f"{config.client_id}-p{partition}",
            transactional_id=config.transactional_id(partition),
            acks="all",
            linger_ms=5,
            max_batch_size=1024 * 1024,
            # After a commit the next transaction waits for the markers (CONCURRENT_TRANSACTIONS);
            # a short backoff keeps that wait short.
            retry_backoff_ms=10,
        )

    async def start(self) -> None:
        """Initialise the producer id: fences earlier owners, resolves their open transaction."""
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def commit(
        self,
        panes: Sequence[ClosedPane],
        dead_letters: Sequence[DeadLetter],
        progress: tuple[int, Checkpoint] | None,
    ) -> None:
        """Publish panes and dead letters and commit progress, all or nothing."""
        producer = self._producer
        await producer.begin_transaction()
        try:
            await self._send(panes, dead_letters)
            if progress is not None:
                offset, checkpoint = progress
                offsets = {self._source: (offset, encode_checkpoint(checkpoint))}
                await producer.send_offsets_to_transaction(offsets, self._config.group_id)
            await producer.commit_transaction()
        except BaseException:
            await self._abort()
            raise

    async def _send(self, panes: Sequence[ClosedPane], dead_letters: Sequence[DeadLetter]) -> None:
        send, config = self._producer.send, self._config
        for pane in panes:
            await send(config.panes_topic, pane.value, key=pane.key, headers=pane.headers)
        for letter in dead_letters:
            await send(
                config.dead_letter_topic, letter.value, key=letter.key, headers=letter.headers
            )

    async def _abort(self) -> None:
        # A fenced producer cannot abort (the new owner already did); the caller reports the
        # original error and the stage restarts from the last committed transaction.
        with contextlib.suppress(Exception):  # the original error is what matters
            await self._producer.abort_transaction()
