"""What the fault suite drives: ``alertpipe run`` as a child process, its ``/health`` sampled
throughout, live telemetry that keeps flowing (and retrying) across a broker outage.

    child = Child(env, log_path)
    await child.start(); await child.wait_ready()
    samples = HealthLog(child.health_url); samples.start()
    feeding = asyncio.create_task(feed_requests(bootstrap, topic, ("chat-api",)))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

__all__ = ["Child", "HealthLog", "Sample", "feed_requests", "free_ports"]

ROOT = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Child:
    """``alertpipe run`` (``python -m app``) with its own environment; output to ``log``."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env, self.log, self.args = env, log, args
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self.port = int(env["ALERTPIPE_HTTP_PORT"])

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    async def start(self) -> None:
        self.started_at = time.monotonic()
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app", "run", *self.args,
                cwd=ROOT, env=self.env, stdout=out, stderr=out,
            )  # fmt: skip

    @property
    def returncode(self) -> int | None:
        assert self.proc is not None
        return self.proc.returncode

    async def wait_ready(self, within_s: float = 90.0) -> float:
        """Until /health answers 200; how long that took from the start (a cold start)."""
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.returncode is None, f"exited {self.returncode}:\n{self.tail()}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.health_url, timeout=2)).status_code == 200:
                        return time.monotonic() - self.started_at
                await asyncio.sleep(0.2)
        raise AssertionError(f"not ready within {within_s:g} s:\n{self.tail()}")

    async def wait_exit(self, within_s: float) -> int:
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), within_s)
        except TimeoutError:
            raise AssertionError(f"still running after {within_s:g} s:\n{self.tail()}") from None

    async def terminate(self, within_s: float = 15.0) -> tuple[int, float]:
        """SIGTERM; (exit status, seconds it took)."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait_exit(within_s)
        return code, time.monotonic() - began

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    status: int | None  # None: no answer at all
    waiting_for: tuple[str, ...] = ()


@dataclass
class HealthLog:
    """``/health`` asked every ``every_s``: what it said, and when."""

    url: str
    every_s: float = 0.25
    samples: list[Sample] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _sample(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                self.samples.append(await self._ask(client))
                await asyncio.sleep(self.every_s)

    async def _ask(self, client: httpx.AsyncClient) -> Sample:
        try:
            response = await client.get(self.url, timeout=2)
            body: dict[str, Any] = response.json()
        except (httpx.HTTPError, json.JSONDecodeError):
            return Sample(time.monotonic(), None)
        return Sample(time.monotonic(), response.status_code, tuple(body.get("waiting_for", ())))

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at <= end]

    def first(self, after: float, status: int, naming: str | None = None) -> Sample | None:
        return next(
            (
                s
                for s in self.samples
                if s.at >= after
                and s.status == status
                and (naming is None or naming in s.waiting_for)
            ),
            None,
        )


async def feed_requests(
    bootstrap: str, topic: str, services: tuple[str, ...], per_second: int = 40
) -> None:
    """Healthy request events for ``services`` until cancelled, through broker outages: a send
    that fails is dropped (a real producer's buffer would be lost the same way) and retried
    with the next event."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, request_timeout_ms=3000)
    await producer.start()
    try:
        while True:
            for service in services:
                event = {
                    "kind": "request",
                    "ts": time.time(),
                    "service": service,
                    "endpoint": "POST /api/search",
                    "status": 200,
                    "latency_ms": 40.0,
                }
                try:
                    await asyncio.wait_for(
                        producer.send(topic, json.dumps(event).encode(), key=service.encode()), 1
                    )
                except Exception:  # the broker is away: drop it, try the next one
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1 / per_second)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5)
