"""Getting the servers ready: local ones up when none are configured, topics, migrations."""

from __future__ import annotations

from collections.abc import Callable

from app import local
from app.settings import Settings
from app.storage.migrations import migrate
from app.topics import declared_topics
from streams.topics import ensure_topics

__all__ = ["local_if_needed", "prepare", "prepare_kafka"]

Progress = Callable[[str], None]


async def local_if_needed(settings: Settings, progress: Progress) -> None:
    if settings.uses_local_kafka or settings.uses_local_postgres:
        await local.ensure_up(settings, progress)


async def prepare_kafka(settings: Settings, progress: Progress = print) -> None:
    """Servers up (when local) and every topic declared."""
    await local_if_needed(settings, progress)
    created = await ensure_topics(settings.bootstrap, declared_topics(settings))
    if created:
        progress(f"kafka: created topics {', '.join(created)}")


async def prepare(settings: Settings, progress: Progress = print, *, database: bool = True) -> None:
    """Servers up (when local), topics declared, database migrated (unless ``database=False``)."""
    await prepare_kafka(settings, progress)
    if not database:
        return
    applied = await migrate(settings.dsn, schema=settings.database_schema)
    if applied:
        progress(f"postgres: applied migrations {', '.join(applied)}")
