"""Explicit lifecycle for the pipeline's roles: start in order, run together, stop in reverse.

A role is anything with ``start``/``run``/``stop`` and a ``health()`` report. ``run_roles``
stops every role gracefully on SIGTERM/SIGINT, on a stop event, or when one role fails
(then re-raises that failure) — a half-running pipeline is worse than a stopped one. A role
that rides out a Kafka or PostgreSQL outage instead of failing is wrapped in
``streams.supervise.Supervised``; what reaches ``run_roles`` as a failure is final.

Stopping is bounded: the roles together get ``stop_timeout_s`` to stop gracefully (each one
at most what is left of it), a stop that hangs or raises is logged and abandoned, and the
runs still going are cancelled without waiting on one that ignores its cancellation. With
``exit_after_s`` a watchdog thread ends the process that long after stopping began, whatever
its event loop is doing — a client stuck on a dead broker cannot keep it alive.

Declared here, in ``streams``, because both the composition root (``app.pipeline``, for
``alertpipe run``) and the single-stage entries (``python -m streams.aggregate|evaluate``)
run their roles with it, and streams may not import app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from schemas.errors import OperationalError

__all__ = [
    "CLOSE_TIMEOUT_S",
    "ResourceRole",
    "Role",
    "Service",
    "ServiceRole",
    "StopIncomplete",
    "bounded",
    "run_roles",
]

log = logging.getLogger(__name__)

# Closing one client, or aborting one transaction, is a few round trips; one that takes longer
# is stuck on a server that is gone (aiokafka waits forever once its sender has died), and is
# abandoned so that stopping stays bounded.
CLOSE_TIMEOUT_S = 3.0


class StopIncomplete(OperationalError, RuntimeError):
    """A role did not stop cleanly within the stop budget: it was abandoned."""


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
        self._stopped.clear()  # started again after a stop (``Supervised`` restarts in place)
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


async def bounded(step: Awaitable[Any], timeout_s: float, what: str) -> bool:
    """Await ``step`` for at most ``timeout_s``; True when it finished without an error.

    A step that takes longer is cancelled and abandoned (its cancellation is not waited for:
    a client stuck on a dead connection may never honour it); one that fails — also with a
    ``CancelledError`` of its own, as aiokafka's consumer ``stop`` can raise — is logged.
    Only the caller's own cancellation propagates.
    """
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait([task], timeout=max(timeout_s, 0.0))
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        log.error("%s did not finish within %.3g s; abandoned", what, timeout_s)
        return False
    if task.cancelled():
        log.error("%s was cancelled from inside", what)
        return False
    error = task.exception()
    if error is not None:
        log.error("%s failed: %r", what, error, exc_info=error)
        return False
    return True


class _Deadline:
    """What is left of the stop budget."""

    def __init__(self, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._until = self._loop.time() + timeout_s

    def left(self) -> float:
        return max(0.0, self._until - self._loop.time())


async def _stop_all(started: Sequence[Role], deadline: _Deadline) -> list[str]:
    """Stop in reverse order, each within what is left; the roles that did not stop cleanly."""
    unclean = []
    for role in reversed(started):
        if deadline.left() <= 0:
            log.error("no time left to stop %s", role.name)
            unclean.append(role.name)
        elif await bounded(role.stop(), deadline.left(), f"stopping {role.name}"):
            log.info("%s stopped", role.name)
        else:
            unclean.append(role.name)
    return unclean


async def _settle(tasks: Sequence[asyncio.Task[None]], deadline: _Deadline) -> list[Exception]:
    """Cancel what still runs; the failures of the runs that ended with one while stopping.
    A run that ignores its cancellation past the deadline is left behind (and logged)."""
    for task in tasks:
        task.cancel()
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=max(deadline.left(), 0.1))
        for task in pending:
            log.error("%s did not end when cancelled; left behind", task.get_name())
    return [
        error
        for task in tasks
        if task.done() and not task.cancelled() and isinstance(error := task.exception(), Exception)
    ]


def _watchdog(exit_after_s: float) -> threading.Timer:
    """Ends the process ``exit_after_s`` from now unless it ended already (a daemon thread:
    it does not keep a process alive that exits normally)."""

    def end() -> None:
        log.critical("still running %.3g s after stopping began: exiting now", exit_after_s)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(exit_after_s, end)
    timer.daemon = True
    timer.start()
    return timer


async def _start_all(roles: Sequence[Role], running: list[Role], stop: asyncio.Event) -> None:
    """Start in order; a stop (signal) while a role is still starting ends the starting."""
    for role in roles:
        starting = asyncio.ensure_future(role.start())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([starting, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not starting.done():
            starting.cancel()
            running.append(role)  # partly started: its stop releases what it holds
            return
        starting.result()  # a failure to start is raised
        running.append(role)
        log.info("%s started", role.name)


async def run_roles(
    roles: Sequence[Role],
    stop: asyncio.Event | None = None,
    *,
    signals: bool = True,
    started: Callable[[], None] | None = None,
    stop_timeout_s: float = 10.0,
    exit_after_s: float | None = None,
) -> list[Exception]:
    """Run ``roles`` until a signal, ``stop``, or the first failure; always stop them all.

    ``started`` is called once every role has started and runs. Returns the failures of the
    roles whose ``run`` ended with one while they were being stopped, and a
    ``StopIncomplete`` naming the roles whose stop failed or was abandoned: whether that
    makes the process a failure is the caller's call (the entries exit 1 on them).
    Stopping takes at most ``stop_timeout_s`` (see the module docstring); ``exit_after_s``
    arms the watchdog that ends the process if it is still running that long after.
    """
    stop = stop or asyncio.Event()
    installed = _install_signals(stop) if signals else []
    running: list[Role] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await _start_all(roles, running, stop)
        if not stop.is_set():
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
        if exit_after_s is not None:
            _watchdog(exit_after_s)
        deadline = _Deadline(stop_timeout_s)
        unclean = await _stop_all(running, deadline)
        late = await _settle(tasks, deadline)
        if unclean:
            late.append(StopIncomplete(f"not stopped cleanly: {', '.join(unclean)}"))
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    return late
