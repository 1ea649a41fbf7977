"""Await a condition with a deadline instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool] = bool,
    within_s: float = 20.0,
    what: str = "condition",
    every_s: float = 0.05,
) -> T:
    """Call ``probe`` until ``done(result)``; return the result, or fail naming ``what``."""
    deadline = time.monotonic() + within_s
    while True:
        result = await probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within_s:g} s; last: {result!r}")
        await asyncio.sleep(every_s)
