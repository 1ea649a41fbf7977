"""The thin Kafka edge the evaluator and the correlator share.

``TransactionalSender`` produces a batch's outputs and commits the input offsets in one
Kafka transaction (consumers downstream read with ``read_committed``), so a crash at any
point either publishes a batch's decisions and state with its offsets, or none of them. A
transaction that fails or outlasts its timeout is aborted (within ``CLOSE_TIMEOUT_S``; one
this producer could not abort is aborted by the broker when the next producer with its id
starts) and the error raised; stopping the producer waits ``CLOSE_TIMEOUT_S`` at most.
The ``read_*`` helpers replay a partition range with a separate, group-less consumer
(restoring state and pane buffers after an assignment).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.lifecycle import CLOSE_TIMEOUT_S, bounded
from streams.topics import TopicMissing, TopicSpec, TopicUnusable, ensure_topics

__all__ = [
    "Outgoing",
    "TransactionalSender",
    "ensure_state_topic",
    "last_timestamp_before",
    "make_reader",
    "partition_count",
    "read_range",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None


class TransactionalSender:
    """A transactional producer: ``commit`` sends messages and input offsets atomically."""

    def __init__(
        self, bootstrap: str, transactional_id: str, client_id: str, timeout_s: float = 10.0
    ) -> None:
        self.transactional_id = transactional_id
        self._timeout_s = timeout_s
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            transactional_id=transactional_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=0,
            # After a commit the next transaction may wait for the markers
            # (CONCURRENT_TRANSACTIONS); a short backoff keeps that wait short.
            retry_backoff_ms=10,
        )

    async def start(self) -> None:
        """Start; registering the transactional id fences an earlier instance with it."""
        await self._producer.start()

    async def stop(self) -> None:
        # Stopping flushes what is queued: with the broker gone that never ends.
        await bounded(self._producer.stop(), CLOSE_TIMEOUT_S, f"stopping {self.transactional_id}")

    async def commit(
        self,
        messages: Sequence[Outgoing],
        offsets: dict[TopicPartition, int],
        group_id: str,
    ) -> None:
        """All of it in one transaction within the timeout, or nothing (and the error)."""
        try:
            await asyncio.wait_for(self._transaction(messages, offsets, group_id), self._timeout_s)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is what matters
                await asyncio.wait_for(self._producer.abort_transaction(), CLOSE_TIMEOUT_S)
            raise

    async def _transaction(
        self, messages: Sequence[Outgoing], offsets: dict[TopicPartition, int], group_id: str
    ) -> None:
        producer = self._producer
        await producer.begin_transaction()
        sent = [
            await producer.send(m.topic, value=m.value, key=m.key, partition=m.partition)
            for m in messages
        ]
        await asyncio.gather(*sent)  # every record acknowledged before the offsets go in
        if offsets:
            await producer.send_offsets_to_transaction(offsets, group_id)
        await producer.commit_transaction()


def make_reader(bootstrap: str, client_id: str) -> AIOKafkaConsumer:
    """A group-less consumer for replays (read_committed, no auto commit)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )


async def read_range(
    reader: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> AsyncIterator[Any]:
    """Every committed record of ``tp`` in [start, end)."""
    if start >= end:
        return
    reader.assign([tp])
    reader.seek(tp, start)
    while await reader.position(tp) < end:
        batch = await reader.getmany(tp, timeout_ms=200, max_records=5000)
        for record in batch.get(tp, []):
            if record.offset >= end:
                return
            yield record


async def last_timestamp_before(
    reader: AIOKafkaConsumer, tp: TopicPartition, end: int
) -> int | None:
    """The timestamp of the last committed record before offset ``end`` (transaction
    markers take offsets too, so look back in widening steps)."""
    step = 16
    while True:
        start = max(0, end - step)
        timestamp = None
        async for record in read_range(reader, tp, start, end):
            timestamp = record.timestamp
        if timestamp is not None or start == 0:
            return timestamp
        step *= 8


async def partition_count(bootstrap: str, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="alertpipe-evaluate")
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return None
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return len(entry.get("partitions", []))
    return None


async def ensure_state_topic(
    bootstrap: str, state_topic: str, input_topic: str, replication_factor: int = 1
) -> int:
    """Create the compacted state topic co-partitioned with ``input_topic``; its partition
    count. A state topic with a different count would scatter a partition's state."""
    partitions = await partition_count(bootstrap, input_topic)
    if partitions is None:
        raise TopicMissing(input_topic)
    config = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
    await ensure_topics(bootstrap, [TopicSpec(state_topic, partitions, replication_factor, config)])
    found = await partition_count(bootstrap, state_topic)
    if found != partitions:
        raise TopicUnusable(
            f"state topic {state_topic!r} has {found} partitions, {input_topic!r} has "
            f"{partitions}; they must match (delete the state topic to rebuild it)"
        )
    return partitions
