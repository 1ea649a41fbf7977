"""The lifecycle every long-running part shares: ``start`` / ``run`` (until stopped) / ``stop``.

``run`` repeats ``tick()``; a tick that did nothing waits ``idle_for()`` (``idle_s``) or until
``wake`` — called when work was committed (the composition root wires PostgreSQL
notifications to it), so the interval is only the fallback for a missed one. A wake that
comes while a tick runs is kept: the next wait returns at once. One that did something goes
again at once. ``stop`` lets the current tick finish. A tick that raises is retried after
``idle_s`` — a database restart must not end the worker — and counted in ``health()``; the
first failure of a run of them is logged with its traceback, the rest at DEBUG (an outage
would otherwise log one traceback per tick), and the recovery once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from handlers.incidents.source import DecisionSource
from schemas.clock import Clock

__all__ = ["LoopService", "Signal", "SourceLoop", "sleep_or_wake"]

log = logging.getLogger(__name__)


async def sleep_or_wake(clock: Clock, seconds: float, *events: asyncio.Event) -> None:
    """Return after ``seconds`` on ``clock``, or as soon as one of ``events`` is set."""
    if any(event.is_set() for event in events):
        return
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(clock.sleep(seconds))]
    waits += [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        for task in waits:
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Signal:
    """Something changed that waiters may be waiting for: ``fire`` wakes every waiter that
    took ``event`` before it (take it *before* looking, so a change in between is not
    missed)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def fire(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


class LoopService:
    name = "service"

    def __init__(self, clock: Clock, idle_s: float) -> None:
        self.clock = clock
        self.idle_s = idle_s
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self.ready = False
        self.ticks = 0
        self.errors = 0
        self.last_error: str | None = None
        self._failing = 0  # ticks failed in a row

    async def start(self) -> None:
        self._stopping.clear()  # started again after a stop (``Supervised`` restarts in place)
        self.ready = True

    async def tick(self) -> bool:
        """One round of work; True if there was something to do."""
        raise NotImplementedError

    def wake(self) -> None:
        """Work was committed: stop waiting (or skip the next wait, during a tick)."""
        self._woken.set()

    def idle_for(self) -> float:
        """How long a tick that found nothing waits (unless woken)."""
        return self.idle_s

    async def _idle(self, seconds: float) -> None:
        await sleep_or_wake(self.clock, seconds, self._stopping, self._woken)

    async def run(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()  # before the tick looks: a wake from here on is for work it
            try:  # may not have seen
                busy = await self.tick()
                self.ticks += 1
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._failed(error)
                await self._idle(self.idle_s)
                continue
            self._recovered()
            if not busy:
                await self._idle(self.idle_for())

    def _failed(self, error: Exception) -> None:
        self.errors += 1
        self.last_error = f"{type(error).__name__}: {error}"
        if not self._failing:
            log.exception("%s: tick failed; retrying", self.name)
        else:
            log.debug("%s: tick failed again: %s", self.name, self.last_error)
        self._failing += 1

    def _recovered(self) -> None:
        if self._failing:
            log.warning("%s: ticks succeed again after %d failures", self.name, self._failing)
        self._failing = 0

    async def stop(self) -> None:
        self._stopping.set()
        self.ready = False

    def health(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "ticks": self.ticks,
            "errors": self.errors,
            "last_error": self.last_error,
        }


class SourceLoop(LoopService):
    """A loop over batches of a Kafka source, committed by hand: each tick hands the batch to
    ``handle`` and commits only once it returned (its effects are durable); if it raises, the
    source rewinds to the last commit, so nothing is skipped (``handle`` must be idempotent)."""

    def __init__(self, source: DecisionSource, clock: Clock, poll_s: float) -> None:
        super().__init__(clock, 0.0)
        self._source = source
        self._poll_s = poll_s

    async def start(self) -> None:
        await self._source.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self._source.stop()

    async def handle(self, values: list[bytes]) -> None:
        raise NotImplementedError

    async def tick(self) -> bool:
        values = await self._source.batch(self._poll_s)
        if not values:
            return True  # batch() already waited; go straight back to it
        try:
            await self.handle(values)
        except Exception:
            await self._source.rewind()
            raise
        await self._source.commit()
        return True
