"""PostgreSQL LISTEN/NOTIFY wake-ups for the responder's workers (asyncpg adapter).

One dedicated connection listens on the channel ``alertpipe`` (migration 0009's triggers send
``"<schema> <topic>"``) and calls the wake-ups registered for its own schema's topics, since
several deployments may share a database. A notification is a hint, never the only way work is
found: each worker still polls. One sent while the connection was down is lost, so a listener
started again calls every wake-up once, and the connection is pinged every ``ping_s`` so a
silently dead one is noticed (docs/design.md record 26). A lost connection ends ``run`` with a
``ConnectionError``: its supervisor starts it again, as for every role that needs PostgreSQL,
rather than a reconnect loop of its own (record 39).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg

__all__ = ["APPLICATION_NAME", "CHANNEL", "PgNotifications"]

CHANNEL = "alertpipe"
APPLICATION_NAME = "alertpipe-notifications"  # in pg_stat_activity


class PgNotifications:
    """One role: a listening connection that turns notifications into wake-up calls."""

    name = "notifications"

    def __init__(self, dsn: str, *, ping_s: float = 10.0) -> None:
        self._dsn = dsn
        self._ping_s = ping_s
        self._wakes: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._conn: asyncpg.Connection | None = None
        self._schema = ""
        self._lost = asyncio.Event()
        self._stopping = asyncio.Event()
        self._started = False
        self.received = 0
        self.reconnects = 0
        self.last_error: str | None = None

    def on(self, topic: str, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever ``topic`` is announced."""
        self._wakes[topic].append(wake)

    async def start(self) -> None:
        self._stopping.clear()
        await self._connect()
        if self._started:  # again, after the connection was lost: what was announced meanwhile
            self.reconnects += 1
            self._wake_all()
        self._started = True

    async def run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self._ping_s)
            if self._stopping.is_set():
                return
            if self._lost.is_set():
                self.last_error = "the server closed the listening connection"
                raise ConnectionError(self.last_error)
            if not await self._alive():
                raise ConnectionError(
                    f"the listening connection stopped answering: {self.last_error}"
                )

    async def stop(self) -> None:
        self._stopping.set()
        self._lost.set()
        await self._close()

    def health(self) -> dict[str, Any]:
        return {
            "ready": self._conn is not None and not self._lost.is_set(),
            "received": self.received,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }

    # --- the connection --------------------------------------------------------------------

    async def _connect(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            self._dsn,
            timeout=self._ping_s,  # a server that takes the connection but never answers
            server_settings={"application_name": APPLICATION_NAME},
        )
        try:
            self._schema = str(await conn.fetchval("SELECT current_schema()"))
            await conn.add_listener(CHANNEL, self._received)
        except BaseException:
            conn.terminate()  # lost while being set up: nothing to close gracefully
            raise
        conn.add_termination_listener(self._terminated)
        self._conn = conn
        self._lost.clear()

    async def _alive(self) -> bool:
        try:
            assert self._conn is not None
            await asyncio.wait_for(self._conn.execute("SELECT 1"), self._ping_s)
            return True
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"
            return False

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                await conn.close(timeout=5)

    # --- notifications ---------------------------------------------------------------------

    def _received(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        schema, _, topic = str(payload).partition(" ")
        if schema != self._schema:
            return  # another deployment's work, in another schema of this database
        self.received += 1
        for wake in self._wakes.get(topic, ()):
            wake()

    def _terminated(self, conn: Any) -> None:
        if conn is self._conn:
            self._lost.set()

    def _wake_all(self) -> None:
        for wakes in self._wakes.values():
            for wake in wakes:
                wake()
