"""API tokens and console sessions as data, and the store they live in (a port).

A token reads ``ap_<id>_<secret>``: ``id`` (12 hex digits) is public — it names the token in
``alertpipe token list`` and finds its row — and ``secret`` (32 random bytes, base64url) is
shown once, at creation; only its SHA-256 is stored. Checking a token is a lookup by id and a
constant-time comparison of digests (``hmac.compare_digest``), so neither the secret nor
anything derived from it is ever compared byte by byte in a way that leaks timing. The secrets
are random, not passwords: a fast hash is enough (nothing to brute-force).

A session cookie is 32 random bytes too; the database keeps its SHA-256 with the session's
CSRF token, so a stolen copy of the table signs nobody in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal, Protocol

from schemas.errors import CommandError

__all__ = [
    "TOKEN_NAME",
    "CredentialStore",
    "NameTaken",
    "NewToken",
    "SessionVia",
    "StoredSession",
    "StoredToken",
    "digest",
    "issue_token",
    "new_secret",
    "new_token",
    "parse_token",
    "same_digest",
]

# A token's name: the actor the timeline records for what it does.
TOKEN_NAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"  # noqa: S105 (a pattern, not a secret)
_TOKEN = re.compile(r"ap_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class StoredToken:
    id: str
    name: str
    role: str
    secret_hash: str
    created_at: float
    created_by: str
    revoked_at: float | None = None
    revoked_by: str | None = None


@dataclass(frozen=True)
class NewToken:
    """A token as created: ``value`` is the whole token, to be shown once and never stored."""

    id: str
    value: str
    secret_hash: str


# What a stored session was signed in with (the SQL CHECK of api_sessions.via).
SessionVia = Literal["token", "proxy"]


@dataclass(frozen=True)
class StoredSession:
    name: str
    role: str
    via: SessionVia
    csrf: str
    expires_at: float
    token_id: str | None = None


class NameTaken(CommandError, ValueError):
    """A live token already has this name."""


class CredentialStore(Protocol):
    async def create_token(
        self, token: NewToken, name: str, role: str, by: str, now: float
    ) -> StoredToken: ...

    async def token(self, token_id: str) -> StoredToken | None: ...

    async def tokens(self, include_revoked: bool = False) -> list[StoredToken]: ...

    async def revoke_token(self, id_or_name: str, by: str, now: float) -> StoredToken | None: ...

    async def start_session(self, cookie_hash: str, session: StoredSession, now: float) -> None: ...

    async def session(self, cookie_hash: str, now: float) -> StoredSession | None: ...

    async def end_session(self, cookie_hash: str) -> None: ...


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_token() -> NewToken:
    token_id, secret = secrets.token_hex(6), new_secret()
    return NewToken(token_id, f"ap_{token_id}_{secret}", digest(secret))


def parse_token(value: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    match = _TOKEN.fullmatch(value)
    return None if match is None else (match.group(1), match.group(2))


async def issue_token(
    store: CredentialStore, name: str, role: str, by: str, now: float
) -> tuple[StoredToken, str]:
    """Create a token; its value is returned once, here, and stored nowhere."""
    token = new_token()
    return await store.create_token(token, name, role, by, now), token.value
