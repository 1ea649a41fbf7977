"""Explicit lifecycle for the pipeline's roles: start in order, run together, stop in reverse.

A role is anything with ``start``/``run``/``stop`` and a ``health()`` report. ``run_roles``
stops every role gracefully on SIGTERM/SIGINT, on a stop event, or when one role fails
(then re-raises that failure) — a half-running pipeline is worse than a stopped one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = ["Role", "run_roles"]

log = logging.getLogger(__name__)


class Role(Protocol):
    name: str

    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


def _install_signals(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    return installed


async def _stop_all(started: Sequence[Role]) -> None:
    for role in reversed(started):
        try:
            await role.stop()
            log.info("%s stopped", role.name)
        except Exception:
            log.exception("%s did not stop cleanly", role.name)


async def run_roles(
    roles: Sequence[Role],
    stop: asyncio.Event | None = None,
    *,
    signals: bool = True,
    started: Callable[[], None] | None = None,
) -> None:
    """Run ``roles`` until a signal, ``stop``, or the first failure; always stop them all.

    ``started`` is called once every role has started and runs.
    """
    stop = stop or asyncio.Event()
    installed = _install_signals(stop) if signals else []
    running: list[Role] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for role in roles:
            await role.start()
            running.append(role)
            log.info("%s started", role.name)
        tasks = [asyncio.create_task(role.run(), name=role.name) for role in running]
        if started is not None:
            started()
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        await _stop_all(running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
