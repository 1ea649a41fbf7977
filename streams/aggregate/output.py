"""The transactional edge of one input partition: panes, dead letters and progress, atomically.

One transactional producer per input partition, its ``transactional.id`` derived from the
partition: starting it fences every earlier owner of the partition (a worker that lost it in
a rebalance, a paused zombie) and aborts its open transaction, so the committed offset and
checkpoint read afterwards are final. aiokafka has no KIP-447 group-metadata fencing, which is
why the id is per partition rather than per process (docs/design.md record 1). Each
``commit`` is one transaction: the panes, the dead letters, and the group offset with its
checkpoint as metadata; consumers read them with ``isolation_level="read_committed"``. A
transaction that fails or outlasts its timeout is aborted, the abort waiting
``CLOSE_TIMEOUT_S`` at most (aiokafka's dead sender would make it wait forever), and the error
raised; what this producer could not abort, the broker aborts when the partition's next
producer starts with the same id (record 39).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streams.aggregate.checkpoint import Checkpoint, encode_checkpoint
from streams.aggregate.config import AggregatorConfig
from streams.aggregate.deadletter import DeadLetter
from streams.aggregate.partition import ClosedPane
from streams.lifecycle import CLOSE_TIMEOUT_S, bounded

__all__ = ["PartitionOutput"]

# key, value, headers, and the key that picks the partition (a pane's service)
Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]], bytes | None]
_PARTITIONER = DefaultPartitioner()


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
        self._partition_cache: dict[tuple[bytes, int], int] = {}
        self._sent: list[asyncio.Future[Any]] = []  # this transaction's delivery futures

    async def start(self) -> None:
        """Initialise the producer id: fences earlier owners, resolves their open transaction."""
        await self._producer.start()

    async def stop(self) -> None:
        # Stopping flushes what is queued: with the broker gone that never ends.
        await bounded(self._producer.stop(), CLOSE_TIMEOUT_S, "stopping a stage 1 producer")

    async def commit(
        self,
        panes: Sequence[ClosedPane],
        dead_letters: Sequence[DeadLetter],
        progress: tuple[int, Checkpoint] | None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        """Publish panes and dead letters and commit progress, all or nothing (within
        ``timeout_s``: else ``TimeoutError``, and nothing is committed)."""
        try:
            await asyncio.wait_for(self._transaction(panes, dead_letters, progress), timeout_s)
        except BaseException:
            await self._abort()
            raise

    async def _transaction(
        self,
        panes: Sequence[ClosedPane],
        dead_letters: Sequence[DeadLetter],
        progress: tuple[int, Checkpoint] | None,
    ) -> None:
        producer = self._producer
        await producer.begin_transaction()
        self._sent = []
        await self._send(panes, dead_letters)
        # Every record acknowledged before the offsets go in: a record the broker refused
        # (too large, say) fails the transaction instead of being lost behind a commit.
        await asyncio.gather(*self._sent)
        if progress is not None:
            offset, checkpoint = progress
            offsets = {self._source: (offset, encode_checkpoint(checkpoint))}
            await producer.send_offsets_to_transaction(offsets, self._config.group_id)
        await producer.commit_transaction()

    async def _send(self, panes: Sequence[ClosedPane], dead_letters: Sequence[DeadLetter]) -> None:
        await self._publish(
            self._config.panes_topic, [(p.key, p.value, p.headers, p.partition_key) for p in panes]
        )
        letters = [
            (d.key, d.value if d.key or d.value else b"", d.headers, d.key) for d in dead_letters
        ]
        await self._publish(self._config.dead_letter_topic, letters)

    async def _publish(self, topic: str, messages: Sequence[Message]) -> None:
        """Messages into per-partition record batches (aiokafka's C batch builder): ~10x
        cheaper than one ``send`` per message, which matters with many small panes."""
        if not messages:
            return
        partitions = sorted(await self._producer.partitions_for(topic))
        batches: dict[int, Any] = {}
        for key, value, headers, partition_key in messages:
            partition = self._partition_of(partition_key, partitions)
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                self._sent.append(
                    await self._producer.send_batch(batch, topic, partition=partition)
                )
                batches[partition] = self._producer.create_batch()
                await self._append_or_send(
                    batches[partition], topic, partition, key, value, headers
                )
        for partition, batch in batches.items():
            if batch.record_count():
                self._sent.append(
                    await self._producer.send_batch(batch, topic, partition=partition)
                )

    async def _append_or_send(
        self, batch: Any, topic: str, partition: int, key: bytes | None, value: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> None:  # fmt: skip
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            # Larger than a whole batch (a near-1 MB dead letter): send it on its own.
            self._sent.append(
                await self._producer.send(
                    topic, value, key=key, partition=partition, headers=headers
                )
            )

    def _partition_of(self, key: bytes | None, partitions: list[int]) -> int:
        """Kafka's default partitioning (murmur2 of the key), cached per key; keyless: any."""
        if key is None:
            return partitions[0]
        cache = self._partition_cache
        found = cache.get((key, len(partitions)))
        if found is None:
            if len(cache) > 100_000:  # keys of dead letters are arbitrary: stay bounded
                cache.clear()
            found = cache[(key, len(partitions))] = _PARTITIONER(key, partitions, partitions)
        return found

    async def _abort(self) -> None:
        # A fenced producer cannot abort (the new owner already did), nor one whose broker is
        # gone; the caller reports the original error and the stage restarts from the last
        # committed transaction.
        with contextlib.suppress(Exception):  # the original error is what matters
            await asyncio.wait_for(self._producer.abort_transaction(), CLOSE_TIMEOUT_S)
