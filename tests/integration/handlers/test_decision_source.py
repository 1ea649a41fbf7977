"""The responder's Kafka source rewinds to its last commit after a batch failed — also on a
partition its group never committed (the first decisions of a new group, a database outage
before anything was recorded): the batch is read again, never skipped."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer

from handlers.incidents.source import KafkaDecisionSource
from tests.support.waiting import eventually


async def _produce(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"chat-api")
    finally:
        await producer.stop()


async def _read(source: KafkaDecisionSource, count: int) -> list[bytes]:
    """The next ``count`` values, over as many batches as they come in."""
    got: list[bytes] = []

    async def more() -> list[bytes]:
        got.extend(await source.batch(0.2))
        return got

    return await eventually(more, lambda values: len(values) >= count, what=f"{count} values")


async def test_a_failed_first_batch_is_read_again_after_the_rewind(
    bootstrap: str, make_topic: Callable[..., Awaitable[str]]
) -> None:
    topic = await make_topic("decisions")
    source = KafkaDecisionSource(bootstrap, topic, f"test-rewind-{uuid.uuid4().hex[:8]}")
    await source.start()
    try:
        await _produce(bootstrap, topic, b"first", b"second")
        assert await _read(source, 2) == [b"first", b"second"]
        await source.rewind()  # the batch failed: nothing of it is durable
        assert await _read(source, 2) == [b"first", b"second"]
        await source.commit()
        await _produce(bootstrap, topic, b"third")
        assert await _read(source, 1) == [b"third"]
        await source.rewind()  # back to the commit after "second", not to the beginning
        assert await _read(source, 1) == [b"third"]
    finally:
        await source.stop()
