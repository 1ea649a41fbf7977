"""Kafka slow: a broker of this test's own, paused (SIGSTOP) while ingest writes to it, cannot
acknowledge; the request is answered 429 with Retry-After after ``ack_timeout_s`` instead of
hanging, and once the broker goes on, ingest does too."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from app.local.kafka import KafkaPaths, ensure_up, running_pid, stop
from app.settings import LocalSettings, Settings
from app.topics import declared_topics
from streams.topics import ensure_topics
from tests.support.ingest import ingest_api

pytestmark = pytest.mark.slow

EVENT = {
    "kind": "request",
    "ts": 1795626000.5,
    "service": "chat-api",
    "endpoint": "POST /api/message",
    "status": 200,
    "latency_ms": 8.0,
}


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
async def private_kafka(tmp_path: Path) -> AsyncIterator[Settings]:
    """A broker of this test only (the shared one is never paused)."""
    kafka, controller = _free_ports(2)
    local = LocalSettings(
        dir=tmp_path, kafka_port=kafka, kafka_controller_port=controller, kafka_heap="256m"
    )
    settings = Settings(kafka_bootstrap=None, local=local)
    try:
        await ensure_up(settings, lambda line: None)
        yield settings
    finally:
        pid = running_pid(KafkaPaths.of(settings))
        if pid is not None:
            os.kill(pid, signal.SIGCONT)  # a stopped process cannot take its SIGTERM
        await stop(settings, lambda line: None, purge=True)


async def test_a_paused_broker_is_429_with_retry_after_not_a_hang(
    private_kafka: Settings, database: str
) -> None:
    bootstrap = private_kafka.bootstrap
    await ensure_topics(bootstrap, declared_topics(private_kafka))
    topics = {"telemetry": private_kafka.topics.telemetry}
    ingest = {"ack_timeout_s": 1.0, "retry_after_s": 5}
    async with ingest_api(database, bootstrap, topics, ingest=ingest) as api:
        body = orjson.dumps([EVENT])
        headers = {"Content-Type": "application/json"}
        assert (await api.client.post("/v1/telemetry", content=body, headers=headers)).is_success
        pid = running_pid(KafkaPaths.of(private_kafka))
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            r = await api.client.post("/v1/telemetry", content=body, headers=headers)
            assert (r.status_code, r.headers["Retry-After"], r.json()["error"]) == (
                429,
                "5",
                "throttled",
            )
            assert "did not acknowledge the write within 1 s" in r.json()["message"]
        finally:
            os.kill(pid, signal.SIGCONT)
        r = await api.client.post("/v1/telemetry", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert api.writer.busy == 1 and api.writer.in_flight == 0
