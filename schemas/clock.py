"""The time contract every stage shares (the one item here that is not a wire model).

Every duration in alertpipe comes from config and every clock is injected, so tests and
drills can compress or freeze time without patching code.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to; ``sleep`` returns once ``advance`` passes it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._changed = asyncio.Condition()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        wake_at = self._now + max(0.0, seconds)
        async with self._changed:
            await self._changed.wait_for(lambda: self._now >= wake_at)

    async def advance(self, seconds: float) -> None:
        async with self._changed:
            self._now += seconds
            self._changed.notify_all()
