"""The Python producer API for services: validated telemetry events to Kafka, batched.

    async with TelemetryProducer("127.0.0.1:19092") as producer:
        await producer.send({"kind": "request", "ts": time.time(), "service": "chat-api",
                             "endpoint": "POST /api/message", "status": 200, "latency_ms": 41.0})

``send`` validates first (a bad event raises ``InvalidEvent`` naming the field, and nothing
is sent), then hands the message to aiokafka, which batches by ``linger_ms`` and
``max_batch_size``. It returns once the message is queued; ``flush`` (and leaving the
context) waits until everything queued is acknowledged by the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.telemetry import TelemetryEvent, encode_event, validate_event

__all__ = ["TelemetryProducer"]


class TelemetryProducer:
    """Sends telemetry events to the ingest topic, keyed by service."""

    def __init__(
        self,
        bootstrap: str,
        topic: str = "telemetry",
        *,
        linger_ms: int = 20,
        max_batch_size: int = 256 * 1024,
        acks: int | str = "all",
        client_id: str = "alertpipe-producer",
    ) -> None:
        self.topic = topic
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_size,
            "acks": acks,
            "enable_idempotence": True,
        }
        self._producer = AIOKafkaProducer(**self._config)
        self._started = False
        self._failures: list[BaseException] = []
        self.sent = 0

    async def start(self) -> None:
        # Restartable in place (the drill runner's supervisor starts it again after a Kafka
        # outage): an aiokafka producer starts once, so a second start gets a fresh one.
        if self._started:
            self._producer = AIOKafkaProducer(**self._config)
            self._failures = []
        self._started = True
        await self._producer.start()

    async def stop(self) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def __aenter__(self) -> TelemetryProducer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def send(self, event: TelemetryEvent | Mapping[str, Any]) -> None:
        """Validate and queue one event. Raises InvalidEvent before sending anything bad."""
        model = event if not isinstance(event, Mapping) else validate_event(dict(event))
        await self.send_raw(encode_event(model), key=model.service)

    async def send_raw(self, value: bytes, key: str | None) -> None:
        """Queue bytes as they are (tests use this to send malformed input on purpose)."""
        future = await self._producer.send(
            self.topic, value=value, key=key.encode() if key is not None else None
        )
        future.add_done_callback(self._record_failure)
        self.sent += 1

    def _record_failure(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._failures.append(future.exception())  # type: ignore[arg-type]

    async def flush(self) -> None:
        """Wait until every queued message is acknowledged; raise the first failure."""
        await self._producer.flush()
        if self._failures:
            first, self._failures = self._failures[0], []
            raise first
