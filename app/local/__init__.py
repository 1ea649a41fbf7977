"""Local infrastructure: Kafka (KRaft) and PostgreSQL on 127.0.0.1, started on demand.

Tests and the main job run against real servers (ARCHITECTURE.md §5). This package starts
only what is not configured externally (``ALERTPIPE_KAFKA_BOOTSTRAP``,
``ALERTPIPE_DATABASE_URL``), reuses a server that already answers, waits until each one
really answers, and serialises concurrent callers with a file lock in ``settings.local.dir``.
The servers run detached: they outlive the command that started them, until ``down``.

    endpoints = await ensure_up(settings)      # LocalEndpoints(bootstrap=..., dsn=...)
    for server in await status(settings): ...  # ServerStatus per server
    await down(settings, purge=False)          # data folders stay unless purge
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.errors import InfrastructureError
from app.local import kafka, postgres
from app.local.model import LocalEndpoints, ServerStatus
from app.local.process import Stopwatch, file_lock
from app.settings import Settings

__all__ = ["LocalEndpoints", "ServerStatus", "down", "ensure_up", "lock_path", "status"]


def lock_path(settings: Settings) -> Path:
    return settings.local.dir / ".lock"


def _lock_wait_s(settings: Settings) -> float:
    # The holder may be downloading jars, installing PostgreSQL and starting both servers.
    return kafka.MAVEN_TIMEOUT_S + 2 * settings.local.startup_timeout_s


def _prepare_dir(settings: Settings) -> None:
    # Searchable by others: when we are root the PostgreSQL server runs as `postgres`,
    # which must reach its data folder inside this one.
    settings.local.dir.mkdir(mode=0o755, parents=True, exist_ok=True)


async def ensure_up(settings: Settings, progress: Callable[[str], None] = print) -> LocalEndpoints:
    """Bring up the local servers that are not configured externally; return the endpoints.

    Idempotent: a server that already answers is reused, never started twice. Returns once
    both answer (Kafka a metadata request, PostgreSQL ``select 1`` on the DSN). Raises
    InfrastructureError naming what failed, its log file and the log's last lines, also
    when a server does not answer within ``settings.local.startup_timeout_s``.
    """
    watch = Stopwatch()
    if settings.uses_local_kafka or settings.uses_local_postgres:
        _prepare_dir(settings)
        async with file_lock(lock_path(settings), progress, _lock_wait_s(settings)):
            await _all(kafka.ensure_up(settings, progress), postgres.ensure_up(settings, progress))
    else:
        await _all(kafka.ensure_up(settings, progress), postgres.ensure_up(settings, progress))
    progress(f"local: ready ({watch})")
    return LocalEndpoints(bootstrap=settings.bootstrap, dsn=settings.dsn)


async def status(settings: Settings) -> list[ServerStatus]:
    """Each server: where it is, whether `up` manages it, its pid, whether it answers."""
    return list(await asyncio.gather(kafka.status(settings), postgres.status(settings)))


async def down(
    settings: Settings, progress: Callable[[str], None] = print, *, purge: bool = False
) -> None:
    """Stop what `up` started. The data folders stay, unless `purge` (the jar cache stays)."""
    _prepare_dir(settings)
    async with file_lock(lock_path(settings), progress, _lock_wait_s(settings)):
        await _all(kafka.stop(settings, progress, purge), postgres.stop(settings, progress, purge))


async def _all(*steps: Awaitable[None]) -> None:
    """Run the steps side by side; let each finish, then report every failure at once."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, InfrastructureError):
            raise error
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InfrastructureError("\n".join(str(error) for error in errors))
