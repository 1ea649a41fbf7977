"""Ordered SQL migrations, applied at start and recorded in ``schema_migrations``.

Files are ``NNNN_name.sql`` in ``app/migrations``, applied in number order, each in its own
transaction. Two processes starting at once are serialised by a PostgreSQL advisory lock,
so each file runs exactly once. A file that changed after it was applied is refused
(its checksum no longer matches): fix forward with a new file instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from app.errors import ConfigError

__all__ = ["Migration", "available_migrations", "migrate"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_LOCK_KEY = 0x616C657274  # "alert": one advisory-lock key for the migration runner
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def available_migrations(folder: Path | None = None) -> list[Migration]:
    """The migration files, in order. Raises ConfigError on a misnamed or duplicate file."""
    root = folder or Path(str(resources.files("app") / "migrations"))
    found: dict[int, Migration] = {}
    for path in sorted(root.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ConfigError(f"{path}: migration files are named NNNN_lower_snake.sql")
        version = int(match.group(1))
        if version in found:
            raise ConfigError(f"{path}: version {version:04d} is used twice")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def _applied(conn: asyncpg.Connection) -> dict[int, str]:
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    async with conn.transaction():
        await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            migration.version,
            migration.name,
            migration.checksum,
        )


def _check_unchanged(migration: Migration, applied: dict[int, str]) -> None:
    recorded = applied.get(migration.version)
    if recorded is not None and recorded != migration.checksum:
        raise ConfigError(
            f"migration {migration.label} changed after it was applied "
            "(checksum differs); add a new migration instead of editing an applied one"
        )


def _identifier(name: str) -> str:
    """A schema name safe to put in SQL (identifiers cannot be bound as parameters)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigError(
            f"ALERTPIPE_DATABASE_SCHEMA: {name!r} is not a plain lower-case identifier "
            "(letters, digits, underscore; 63 at most)"
        )
    return name


async def migrate(
    dsn: str, migrations: list[Migration] | None = None, *, schema: str | None = None
) -> list[str]:
    """Apply what is missing; return the labels applied. Safe to run from many processes.

    With ``schema`` (``ALERTPIPE_DATABASE_SCHEMA``, already validated as a plain lower-case
    identifier, and the first entry of the DSN's ``search_path``) it is created first.
    """
    todo = available_migrations() if migrations is None else migrations
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            if schema is not None:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{_identifier(schema)}"')
            await conn.execute(_CREATE_TABLE)
            applied = await _applied(conn)
            done = []
            for migration in todo:
                _check_unchanged(migration, applied)
                if migration.version not in applied:
                    await _apply(conn, migration)
                    done.append(migration.label)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
