"""Maintenance windows and global automation holds over HTTP (``handlers.holds``).

``/maintenance-windows`` lists the policy file's windows beside the API's (a policy window
changes in the file only); ``/automation-holds`` stops every automated control action until
lifted. Ending a window or lifting a hold keeps its row for the record. The author of a window
or a hold, and who ended or lifted it, is the authenticated principal. Routes: docs/api.md;
what windows and holds do: docs/response.md, "Maintenance windows and automation holds".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.auth import Operator, Viewer
from app.api.deps import ApiDeps, Holds
from app.api.errors import ApiError, error_responses
from app.api.models import HoldIn
from handlers.holds import GlobalHold, Window
from schemas.maintenance import HoldRecord, MaintenanceWindow, WindowRecord

__all__ = ["holds_router", "windows_router"]

windows_router = APIRouter(prefix="/maintenance-windows", tags=["maintenance"])
holds_router = APIRouter(prefix="/automation-holds", tags=["maintenance"])

_READ = error_responses(401, 403, 422, 429)
_ONE = error_responses(401, 403, 404, 422, 429)
_WRITE = error_responses(401, 403, 404, 409, 422, 429)


def _holds(request: Request) -> tuple[ApiDeps, Holds]:
    deps: ApiDeps = request.app.state.deps
    if deps.holds is None:
        raise ApiError(404, "maintenance windows and holds are not served here")
    return deps, deps.holds


def _moment(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


def window_record(window: Window, now: float) -> WindowRecord:
    return WindowRecord(
        id=window.id,
        source=window.source,
        active=window.spec.active(now),
        created_by=window.created_by,
        created_at=_moment(window.created_at),
        window=window.spec,
    )


def hold_record(hold: GlobalHold) -> HoldRecord:
    return HoldRecord(
        id=hold.id,
        reason=hold.reason,
        created_by=hold.created_by,
        created_at=datetime.fromtimestamp(hold.created_at, UTC),
        lifted_at=_moment(hold.lifted_at),
        lifted_by=hold.lifted_by,
    )


# --- windows -------------------------------------------------------------------------------


@windows_router.get("", responses=_READ)
async def list_windows(
    request: Request,
    viewer: Viewer,
    ended: Annotated[bool, Query(description="include the API's ended windows")] = False,
) -> list[WindowRecord]:
    deps, holds = _holds(request)
    now = deps.clock.now()
    return [window_record(w, now) for w in await holds.windows(ended)]


@windows_router.post("", status_code=201, responses=_READ)
async def create_window(
    request: Request, operator: Operator, body: MaintenanceWindow
) -> WindowRecord:
    """A recurring (``time_intervals``) or one-off (``starts_at``/``ends_at``) window."""
    deps, holds = _holds(request)
    now = deps.clock.now()
    return window_record(await holds.create_window(body, operator.name, now), now)


async def _existing(holds: Holds, window_id: str) -> Window:
    found = await holds.window(window_id)
    if found is None:
        raise ApiError(404, f"no maintenance window {window_id!r}")
    return found


def _not_policy(window: Window) -> None:
    if window.source == "policy":
        raise ApiError(
            409, f"{window.id} is defined in the policy file: change it there and restart"
        )


@windows_router.get("/{window_id}", responses=_ONE)
async def get_window(request: Request, viewer: Viewer, window_id: str) -> WindowRecord:
    deps, holds = _holds(request)
    return window_record(await _existing(holds, window_id), deps.clock.now())


@windows_router.put("/{window_id}", responses=_WRITE)
async def replace_window(
    request: Request, operator: Operator, window_id: str, body: MaintenanceWindow
) -> WindowRecord:
    deps, holds = _holds(request)
    _not_policy(await _existing(holds, window_id))
    now = deps.clock.now()
    saved = await holds.update_window(window_id, body, now)
    if saved is None:
        raise ApiError(404, f"no maintenance window {window_id!r}")
    return window_record(saved, now)


@windows_router.delete("/{window_id}", responses=_WRITE)
async def end_window(request: Request, operator: Operator, window_id: str) -> WindowRecord:
    """End it now: held control calls look at their holds again at once."""
    deps, holds = _holds(request)
    _not_policy(await _existing(holds, window_id))
    now = deps.clock.now()
    ended = await holds.end_window(window_id, operator.name, now)
    if ended is None:
        raise ApiError(404, f"no maintenance window {window_id!r}")
    return window_record(ended, now)


# --- global holds --------------------------------------------------------------------------


@holds_router.get("", responses=_READ)
async def list_holds(
    request: Request,
    viewer: Viewer,
    lifted: Annotated[bool, Query(description="include lifted holds")] = False,
) -> list[HoldRecord]:
    _, holds = _holds(request)
    return [hold_record(h) for h in await holds.holds(lifted)]


@holds_router.post("", status_code=201, responses=_READ)
async def create_hold(request: Request, operator: Operator, body: HoldIn) -> HoldRecord:
    """Stop every automated control action (breaker, rollback, restore, bot restart) at once;
    decisions, incidents and notifications go on."""
    deps, holds = _holds(request)
    return hold_record(await holds.create_hold(body.reason, operator.name, deps.clock.now()))


@holds_router.get("/{hold_id}", responses=_ONE)
async def get_hold(request: Request, viewer: Viewer, hold_id: str) -> HoldRecord:
    _, holds = _holds(request)
    found = await holds.hold(hold_id)
    if found is None:
        raise ApiError(404, f"no automation hold {hold_id!r}")
    return hold_record(found)


@holds_router.delete("/{hold_id}", responses=_WRITE)
async def lift_hold(request: Request, operator: Operator, hold_id: str) -> HoldRecord:
    deps, holds = _holds(request)
    found = await holds.hold(hold_id)
    if found is None:
        raise ApiError(404, f"no automation hold {hold_id!r}")
    if not found.active:
        raise ApiError(409, f"automation hold {hold_id} was lifted already by {found.lifted_by}")
    lifted = await holds.lift_hold(hold_id, operator.name, deps.clock.now())
    if lifted is None:  # lifted by someone else in between
        raise ApiError(409, f"automation hold {hold_id} was lifted already")
    return hold_record(lifted)
