"""Silences: create, list, get, update, delete (expires it; the record stays)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from app.api.deps import ApiDeps
from app.api.models import SilenceIn, SilenceOut, SilencePatch
from handlers.silences import Silence

__all__ = ["router"]

router = APIRouter(prefix="/silences", tags=["silences"])


def _deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


def _check_window(starts_at: float, ends_at: float) -> None:
    if ends_at <= starts_at:
        raise HTTPException(422, {"field": "body.ends_at", "message": "must be after starts_at"})


@router.post("", status_code=201)
async def create(request: Request, body: SilenceIn) -> SilenceOut:
    deps = _deps(request)
    now = deps.clock.now()
    starts = body.starts_at.timestamp() if body.starts_at else now
    _check_window(starts, body.ends_at.timestamp())
    silence = Silence(
        id=deps.silences.new_id(),
        matchers=tuple(m.to_matcher() for m in body.matchers),
        starts_at=starts,
        ends_at=body.ends_at.timestamp(),
        created_by=body.created_by,
        comment=body.comment,
    )
    return SilenceOut.of(await deps.silences.create(silence, now), now)


@router.get("")
async def list_silences(
    request: Request, expired: Annotated[bool, Query(description="include expired")] = False
) -> list[SilenceOut]:
    deps = _deps(request)
    now = deps.clock.now()
    return [SilenceOut.of(s, now) for s in await deps.silences.list(now, expired)]


async def _existing(deps: ApiDeps, silence_id: str) -> Silence:
    found = await deps.silences.get(silence_id)
    if found is None:
        raise HTTPException(404, f"no silence {silence_id!r}")
    return found


@router.get("/{silence_id}")
async def get(request: Request, silence_id: str) -> SilenceOut:
    deps = _deps(request)
    return SilenceOut.of(await _existing(deps, silence_id), deps.clock.now())


@router.patch("/{silence_id}")
async def update(request: Request, silence_id: str, body: SilencePatch) -> SilenceOut:
    deps = _deps(request)
    now = deps.clock.now()
    silence = await _existing(deps, silence_id)
    changed = replace(
        silence,
        matchers=tuple(m.to_matcher() for m in body.matchers)
        if body.matchers
        else silence.matchers,
        starts_at=body.starts_at.timestamp() if body.starts_at else silence.starts_at,
        ends_at=body.ends_at.timestamp() if body.ends_at else silence.ends_at,
        comment=body.comment if body.comment is not None else silence.comment,
    )
    _check_window(changed.starts_at, changed.ends_at)
    saved = await deps.silences.update(changed, now)
    if saved is None:
        raise HTTPException(404, f"no silence {silence_id!r}")
    return SilenceOut.of(saved, now)


@router.delete("/{silence_id}")
async def expire(request: Request, silence_id: str) -> SilenceOut:
    deps = _deps(request)
    now = deps.clock.now()
    expired = await deps.silences.expire(silence_id, now)
    if expired is None:
        raise HTTPException(404, f"no silence {silence_id!r}")
    # The stored end is rounded to microseconds; judge the state at that instant, not before it.
    return SilenceOut.of(expired, max(now, expired.ends_at))
