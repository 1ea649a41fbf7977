"""API tokens and console sessions in PostgreSQL (``app.credentials.CredentialStore``).

Any api process checks any session: they all read the same table. Only digests are stored.
A session dies with its token: revoking a token ends every session signed in with it.
"""

from __future__ import annotations

import asyncpg

from app.credentials import NameTaken, NewToken, StoredSession, StoredToken
from app.storage.pool import Row, epoch, moment

__all__ = ["PgCredentialStore"]


def _token(row: Row) -> StoredToken:
    return StoredToken(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        secret_hash=row["secret_hash"],
        created_at=float(row["created_at"].timestamp()),
        created_by=row["created_by"],
        revoked_at=epoch(row["revoked_at"]),
        revoked_by=row["revoked_by"],
    )


class PgCredentialStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_token(
        self, token: NewToken, name: str, role: str, by: str, now: float
    ) -> StoredToken:
        try:
            row = await self._pool.fetchrow(
                """INSERT INTO api_tokens (id, name, role, secret_hash, created_at, created_by)
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
                token.id,
                name,
                role,
                token.secret_hash,
                moment(now),
                by,
            )
        except asyncpg.UniqueViolationError:
            raise NameTaken(name) from None
        assert row is not None
        return _token(row)

    async def token(self, token_id: str) -> StoredToken | None:
        row = await self._pool.fetchrow("SELECT * FROM api_tokens WHERE id = $1", token_id)
        return None if row is None else _token(row)

    async def tokens(self, include_revoked: bool = False) -> list[StoredToken]:
        rows = await self._pool.fetch(
            """SELECT * FROM api_tokens WHERE $1 OR revoked_at IS NULL
               ORDER BY created_at, id""",
            include_revoked,
        )
        return [_token(r) for r in rows]

    async def revoke_token(self, id_or_name: str, by: str, now: float) -> StoredToken | None:
        """Revoke the live token with this id or name (and end its sessions)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE api_tokens SET revoked_at = $2, revoked_by = $3
                   WHERE id = (SELECT id FROM api_tokens
                               WHERE (id = $1 OR name = $1) AND revoked_at IS NULL
                               ORDER BY id = $1 DESC LIMIT 1)
                   RETURNING *""",
                id_or_name,
                moment(now),
                by,
            )
            if row is None:
                return None
            await conn.execute("DELETE FROM api_sessions WHERE token_id = $1", row["id"])
        return _token(row)

    async def start_session(self, cookie_hash: str, session: StoredSession, now: float) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM api_sessions WHERE expires_at <= $1", moment(now))
            await conn.execute(
                """INSERT INTO api_sessions (cookie_hash, token_id, name, role, via, csrf,
                       created_at, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                cookie_hash,
                session.token_id,
                session.name,
                session.role,
                session.via,
                session.csrf,
                moment(now),
                moment(session.expires_at),
            )

    async def session(self, cookie_hash: str, now: float) -> StoredSession | None:
        row = await self._pool.fetchrow(
            """SELECT s.* FROM api_sessions s LEFT JOIN api_tokens t ON t.id = s.token_id
               WHERE s.cookie_hash = $1 AND s.expires_at > $2
                 AND (s.token_id IS NULL OR t.revoked_at IS NULL)""",
            cookie_hash,
            moment(now),
        )
        if row is None:
            return None
        return StoredSession(
            name=row["name"],
            role=row["role"],
            via=row["via"],
            csrf=row["csrf"],
            expires_at=float(row["expires_at"].timestamp()),
            token_id=row["token_id"],
        )

    async def end_session(self, cookie_hash: str) -> None:
        await self._pool.execute("DELETE FROM api_sessions WHERE cookie_hash = $1", cookie_hash)
