"""The console's session: sign in with a token (a cookie), who am I (and the CSRF token),
sign out. Behind a trusted proxy, ``GET /session`` starts the proxied user's session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import (
    SESSION_COOKIE,
    Authenticator,
    Principal,
    Via,
    Viewer,
    authenticator,
    cookie_scheme,
)
from app.api.errors import ApiError, error_responses
from app.credentials import StoredSession

__all__ = ["SessionOut", "SignIn", "router"]

router = APIRouter(prefix="/session", tags=["session"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="an API token; behind a trusted proxy it may be left out (the proxy's user)",
    )


class SessionOut(BaseModel):
    name: str = Field(description="who: the token's name, or the proxied user")
    role: str
    via: Via = Field(description="how this request was authenticated")
    csrf: str | None = Field(
        description="send it as `X-CSRF-Token` with every write that relies on the cookie "
        "(null for a bearer token, which needs none)"
    )
    expires_at: datetime | None = Field(description="when the session ends (null: no session)")


def _out(principal: Principal, session: StoredSession | None) -> SessionOut:
    return SessionOut(
        name=principal.name,
        role=principal.role,
        via=principal.via,
        csrf=session.csrf if session else None,
        expires_at=datetime.fromtimestamp(session.expires_at, UTC) if session else None,
    )


def _set_cookie(response: Response, auth: Authenticator, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(auth.cfg.session_ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=auth.cfg.secure_cookie,
    )


@router.post("", responses=error_responses(401, 404, 422, 429))
async def sign_in(request: Request, response: Response, body: SignIn) -> SessionOut:
    """Sign in: a session cookie (HttpOnly, SameSite=Strict) and its CSRF token."""
    auth = authenticator(request)
    address = auth.client(request)
    principal: Principal | None
    token_id: str | None = None
    if body.token is not None:
        principal, token_id = await auth.verify_token(body.token, address)
    else:
        principal = await auth.identify(request, None, None)  # the trusted proxy's user only
        if principal is None or principal.via != "proxy":
            raise ApiError(401, 'no token: send {"token": "ap_…"}')
    cookie, session = await auth.start_session(principal, token_id)
    _set_cookie(response, auth, cookie)
    via: Via = "proxy" if principal.via == "proxy" else "session"
    return _out(Principal(principal.name, principal.role, via), session)


@router.get("", responses=error_responses(401, 403, 429))
async def who_am_i(
    request: Request,
    response: Response,
    principal: Viewer,
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> SessionOut:
    """Who this request is from, and the CSRF token its writes need."""
    session: StoredSession | None = getattr(request.state, "session", None)
    if principal.via == "proxy":
        auth = authenticator(request)
        current = await auth.session(cookie) if cookie else None
        if current is not None and current.name == principal.name:
            session = current
        else:
            new_cookie, session = await auth.start_session(principal, None)
            _set_cookie(response, auth, new_cookie)
    return _out(principal, session)


@router.delete("", status_code=204)
async def sign_out(
    request: Request, cookie: Annotated[str | None, Depends(cookie_scheme)]
) -> Response:
    """End the cookie's session (if any) and clear the cookie."""
    if cookie:
        await authenticator(request).end_session(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
