"""Explicit lifecycle for the pipeline's roles: start in order, run together, stop in reverse.

A role is anything with ``start``/``run``/``stop`` and a ``health()`` report. ``run_roles``
stops every role gracefully on SIGTERM/SIGINT, on a stop event, or when one role fails
(then re-raises that failure) — a half-running pipeline is worse than a stopped one.

Declared here, in ``streams``, because both the composition root (``app.pipeline``, for
``alertpipe run``) and the single-stage entries (``python -m streams.aggregate|evaluate``)
run their roles with it, and streams may not import app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

__all__ = ["ResourceRole", "Role", "Service", "ServiceRole", "run_roles"]

log = logging.getLogger(__name__)


class Role(Protocol):
    name: str

    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


class Service(Protocol):
    """A stream stage's service: a role without a name of its own."""

    async def start(self) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


class ServiceRole:
    """A stream stage (aggregator, evaluator, correlator) as a named lifecycle role;
    ``after_start`` runs once the service has started (stage 1 tunes the GC there)."""

    def __init__(
        self, name: str, service: Service, after_start: Callable[[], None] = (lambda: None)
    ) -> None:
        self.name = name
        self.service = service
        self._after_start = after_start

    async def start(self) -> None:
        await self.service.start()
        self._after_start()

    async def run(self) -> None:
        await self.service.run()

    async def stop(self) -> None:
        await self.service.stop()

    def health(self) -> dict[str, Any]:
        return self.service.health()


class ResourceRole:
    """A role around something with start/stop but no loop of its own (a client, a producer):
    its ``run`` waits until it is stopped, so it stops in its place in the reverse order."""

    def __init__(
        self,
        name: str,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
    ) -> None:
        self.name = name
        self._start, self._stop = start, stop
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        await self._start()

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()
        await self._stop()

    def health(self) -> dict[str, Any]:
        return {"ready": not self._stopped.is_set()}


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


async def _settle(tasks: Sequence[asyncio.Task[None]]) -> list[Exception]:
    """Cancel what still runs; the failures of the runs that ended with one while stopping."""
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    return [outcome for outcome in outcomes if isinstance(outcome, Exception)]


async def run_roles(
    roles: Sequence[Role],
    stop: asyncio.Event | None = None,
    *,
    signals: bool = True,
    started: Callable[[], None] | None = None,
) -> list[Exception]:
    """Run ``roles`` until a signal, ``stop``, or the first failure; always stop them all.

    ``started`` is called once every role has started and runs. Returns the failures of the
    roles whose ``run`` ended with one while they were being stopped: whether that makes the
    process a failure is the caller's call (a single stage's entry exits 1 on them).
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
        late = await _settle(tasks)
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    return late
