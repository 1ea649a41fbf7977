"""API tokens, for admins: list, create (the token is in the answer, once), revoke.

``alertpipe token create|list|revoke`` does the same from a shell (docs/auth.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.auth import Admin, authenticator
from app.api.errors import ApiError, error_responses
from app.credentials import TOKEN_NAME, CredentialStore, NameTaken, StoredToken, issue_token
from app.roles import ROLE_NAMES

__all__ = ["NewTokenOut", "TokenIn", "TokenOut", "router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=TOKEN_NAME,
        description="who or what uses it (the actor on the timeline): letters, digits, `._@-`",
    )
    role: str = Field(json_schema_extra={"enum": list(ROLE_NAMES)})

    @field_validator("role")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ROLE_NAMES:
            raise ValueError(f"expected one of {', '.join(ROLE_NAMES)}")
        return value


class TokenOut(BaseModel):
    id: str
    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @staticmethod
    def of(token: StoredToken) -> TokenOut:
        return TokenOut(
            id=token.id,
            name=token.name,
            role=token.role,
            created_at=datetime.fromtimestamp(token.created_at, UTC),
            created_by=token.created_by,
            revoked_at=(
                None if token.revoked_at is None else datetime.fromtimestamp(token.revoked_at, UTC)
            ),
            revoked_by=token.revoked_by,
        )


class NewTokenOut(TokenOut):
    token: str = Field(description="the token itself: shown this once, stored nowhere")


def _store(request: Request) -> CredentialStore:
    store = authenticator(request).store
    if store is None:
        raise ApiError(404, "this process keeps no tokens (it runs no `api` role)")
    return store


@router.get("", responses=error_responses(401, 403, 404, 422, 429))
async def list_tokens(
    request: Request,
    admin: Admin,
    revoked: Annotated[bool, Query(description="include revoked tokens")] = False,
) -> list[TokenOut]:
    return [TokenOut.of(t) for t in await _store(request).tokens(revoked)]


@router.post("", status_code=201, responses=error_responses(401, 403, 404, 409, 422, 429))
async def create_token(request: Request, admin: Admin, body: TokenIn) -> NewTokenOut:
    store, now = _store(request), authenticator(request).clock.now()
    try:
        stored, value = await issue_token(store, body.name, body.role, admin.name, now)
    except NameTaken:
        raise ApiError(409, f"a live token is named {body.name!r}; revoke it first") from None
    return NewTokenOut(**TokenOut.of(stored).model_dump(), token=value)


@router.delete("/{token_id}", responses=error_responses(401, 403, 404, 422, 429))
async def revoke_token(request: Request, admin: Admin, token_id: str) -> TokenOut:
    """Revoke a live token (by id, or by name); the sessions signed in with it end too."""
    now = authenticator(request).clock.now()
    revoked = await _store(request).revoke_token(token_id, admin.name, now)
    if revoked is None:
        raise ApiError(404, f"no live token {token_id!r}")
    return TokenOut.of(revoked)
