"""The ingest producer: what an HTTP request brings is on Kafka (acks=all) before it is answered.

Kafka being slow reaches the caller as ``IngestBusy`` (HTTP 429 with ``Retry-After``) two
ways: a batch that would take the unacknowledged messages beyond ``max_in_flight`` is refused
before any of it is sent, and a batch not acknowledged within ``ack_timeout_s`` is answered
busy though some of it may still land: ingest is at least once. One idempotent producer serves
every request, so concurrent requests share its batches. Why: docs/design.md record 32.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from schemas.errors import OperationalError
from streams.ingest.stats import IngestStats

__all__ = ["Headers", "IngestBusy", "KafkaWriter", "Record"]

Record = tuple[bytes | None, bytes]  # (key, value)
Headers = list[tuple[str, bytes]]


class IngestBusy(OperationalError):
    """Kafka cannot take a write now; the client should retry after ``retry_after_s``."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class KafkaWriter:
    name = "ingest-producer"

    def __init__(
        self,
        bootstrap: str,
        *,
        max_in_flight: int,
        ack_timeout_s: float,
        retry_after_s: int,
        linger_ms: int = 5,
        client_id: str = "alertpipe-ingest",
        stats: IngestStats | None = None,
    ) -> None:
        # Made at start: a process that builds the api role without running it (a test of
        # its routes) leaves no producer to be reported unclosed.
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": linger_ms,
            "max_batch_size": 512 * 1024,
        }
        self._started: AIOKafkaProducer | None = None
        self.max_in_flight = max_in_flight
        self.ack_timeout_s = ack_timeout_s
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.written = 0
        self.busy = 0
        self.stats = stats if stats is not None else IngestStats()
        self._partitioner = DefaultPartitioner()
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        # Restartable in place (its supervisor starts it again after a Kafka outage): a fresh
        # producer, used only once it started, so a failed start is never written through.
        self._stopped.clear()
        producer = AIOKafkaProducer(**self._config)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._started = producer

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._started is None:
            raise IngestBusy("the ingest producer is not started", self.retry_after_s)
        return self._started

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        producer, self._started = self._started, None  # writes from now on are answered busy
        if producer is not None:
            await producer.stop()

    def health(self) -> dict[str, Any]:
        return {
            "ready": self._started is not None,
            "in_flight": self.in_flight,
            "written": self.written,
            "busy": self.busy,
            **self.stats.report(),
        }

    def _refuse(self, reason: str) -> IngestBusy:
        self.busy += 1
        return IngestBusy(reason, self.retry_after_s)

    async def write(
        self, topic: str, records: Sequence[Record], headers: Headers | None = None
    ) -> None:
        """Send every record and wait for all their acknowledgements; ``IngestBusy`` when the
        in-flight bound or the acknowledgement deadline is passed."""
        if not records:
            return
        if self.in_flight + len(records) > self.max_in_flight:
            raise self._refuse(
                f"{self.in_flight} messages are waiting for Kafka's acknowledgement; "
                f"{len(records)} more would pass the bound of {self.max_in_flight}"
            )
        self.in_flight += len(records)
        try:
            await self._send_all(topic, records, headers or [])
        finally:
            self.in_flight -= len(records)
        self.written += len(records)

    async def _send_all(self, topic: str, records: Sequence[Record], headers: Headers) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout_s
        futures: list[asyncio.Future[Any]] = []
        queued = False
        try:
            # Waits when the producer's buffer is full or the topic's metadata is missing.
            async with asyncio.timeout_at(deadline):
                futures = await self._send_batches(topic, records, headers)
            queued = True
            # ``wait`` (unlike ``gather``) never cancels the delivery futures: what is not
            # acknowledged by the deadline stays with the producer, which keeps retrying it.
            _, pending = await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        except TimeoutError:
            pending = {f for f in futures if not f.done()}
        except KafkaError as error:
            raise self._refuse(f"Kafka refused the write: {type(error).__name__}") from None
        for future in pending:
            future.add_done_callback(_ignore_outcome)
        if pending or not queued:
            raise self._refuse(
                f"Kafka did not acknowledge the write within {self.ack_timeout_s:g} s "
                "(some of it may still land)"
            )
        failed = next((f.exception() for f in futures if f.exception() is not None), None)
        if failed is not None:
            raise self._refuse(f"Kafka refused the write: {type(failed).__name__}")

    async def _send_batches(
        self, topic: str, records: Sequence[Record], headers: Headers
    ) -> list[asyncio.Future[Any]]:
        """Every record in batches of its partition (the producer's own partitioner, so a key
        lands where ``send`` would put it): one delivery future per batch. Building batches
        here is ~4× cheaper than a ``send`` per record, and it is what a request's records
        are: a batch."""
        partitions = sorted(await self._producer.partitions_for(topic))
        open_batches: dict[int, Any] = {}
        futures: list[asyncio.Future[Any]] = []
        chosen: dict[bytes | None, int] = {}  # murmur2 in Python costs µs; a batch has few keys
        for key, value in records:
            partition = chosen.get(key)
            if partition is None:
                partition = chosen[key] = self._partitioner(key, partitions, partitions)
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                futures.append(await self._close_and_send(batch, topic, partition))
                batch = open_batches[partition] = self._producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        for partition, batch in open_batches.items():
            futures.append(await self._close_and_send(batch, topic, partition))
        return futures

    async def _close_and_send(self, batch: Any, topic: str, partition: int) -> Any:
        batch.close()
        return await self._producer.send_batch(batch, topic, partition=partition)


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    # Its outcome is no longer anyone's: retrieve it so that it is not reported as unretrieved.
    if not future.cancelled():
        future.exception()
