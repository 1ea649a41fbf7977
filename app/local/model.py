"""Plain data returned by `app.local`: kept apart so the server modules can share it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LocalEndpoints", "ServerStatus"]


@dataclass(frozen=True, slots=True)
class LocalEndpoints:
    """Where the servers in effect answer: what a test or the main job connects to."""

    bootstrap: str
    dsn: str


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """One server as `alertpipe local status` sees it.

    ``address`` never carries a password; ``pid`` is set only for a process that
    `alertpipe local up` started and that is still alive.
    """

    name: str
    address: str
    managed_locally: bool
    pid: int | None
    answers: bool
    detail: str
