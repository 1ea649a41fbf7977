"""Silences: create, list, get, update, delete (expires it; the record stays).

Viewers read; operators write. ``created_by`` and ``updated_by`` are the authenticated principal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.auth import Operator, Viewer
from app.api.deps import ApiDeps
from app.api.errors import ApiError, FieldError, error_responses
from app.api.models import SilenceIn, SilenceOut, SilencePatch
from handlers.silences import Silence

__all__ = ["router"]

router = APIRouter(prefix="/silences", tags=["silences"])


def _deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


def _check_window(starts_at: float, ends_at: float, longest_s: float) -> None:
    problem = None
    if ends_at <= starts_at:
        problem = "must be after starts_at"
    elif ends_at - starts_at > longest_s:
        days = longest_s / 86400
        problem = f"a silence lasts at most {days:g} days (ALERTPIPE_SILENCE_MAX_DAYS)"
    if problem is not None:
        where = FieldError(field="body.ends_at", message=problem)
        raise ApiError(422, "invalid request: body.ends_at", fields=[where])


_READ = error_responses(401, 403, 422, 429)
_ONE = error_responses(401, 403, 404, 422, 429)


@router.post("", status_code=201, responses=error_responses(401, 403, 422, 429))
async def create(request: Request, operator: Operator, body: SilenceIn) -> SilenceOut:
    deps = _deps(request)
    now = deps.clock.now()
    starts = body.starts_at.timestamp() if body.starts_at else now
    _check_window(starts, body.ends_at.timestamp(), deps.max_silence_s)
    silence = Silence(
        id=deps.silences.new_id(),
        matchers=tuple(m.to_matcher() for m in body.matchers),
        starts_at=starts,
        ends_at=body.ends_at.timestamp(),
        created_by=operator.name,
        comment=body.comment,
        hold_automation=body.hold_automation,
    )
    return SilenceOut.of(await deps.silences.create(silence, now), now)


@router.get("", responses=_READ)
async def list_silences(
    request: Request,
    viewer: Viewer,
    expired: Annotated[bool, Query(description="include expired")] = False,
) -> list[SilenceOut]:
    deps = _deps(request)
    now = deps.clock.now()
    return [SilenceOut.of(s, now) for s in await deps.silences.list(now, expired)]


async def _existing(deps: ApiDeps, silence_id: str) -> Silence:
    found = await deps.silences.get(silence_id)
    if found is None:
        raise ApiError(404, f"no silence {silence_id!r}")
    return found


@router.get("/{silence_id}", responses=_ONE)
async def get(request: Request, viewer: Viewer, silence_id: str) -> SilenceOut:
    deps = _deps(request)
    return SilenceOut.of(await _existing(deps, silence_id), deps.clock.now())


@router.patch("/{silence_id}", responses=_ONE)
async def update(
    request: Request, operator: Operator, silence_id: str, body: SilencePatch
) -> SilenceOut:
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
        updated_by=operator.name,
        hold_automation=silence.hold_automation
        if body.hold_automation is None
        else body.hold_automation,
    )
    _check_window(changed.starts_at, changed.ends_at, deps.max_silence_s)
    saved = await deps.silences.update(changed, now)
    if saved is None:
        raise ApiError(404, f"no silence {silence_id!r}")
    return SilenceOut.of(saved, now)


@router.delete("/{silence_id}", responses=_ONE)
async def expire(request: Request, operator: Operator, silence_id: str) -> SilenceOut:
    deps = _deps(request)
    now = deps.clock.now()
    expired = await deps.silences.expire(silence_id, now, operator.name)
    if expired is None:
        raise ApiError(404, f"no silence {silence_id!r}")
    # The stored end is rounded to microseconds; judge the state at that instant, not before it.
    return SilenceOut.of(expired, max(now, expired.ends_at))
