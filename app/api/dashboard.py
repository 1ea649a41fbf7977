"""The dashboard: the page at ``/`` (static files, no data in them), and the JSON it reads —
``/api/scopes``, ``/api/series``, the live ``/api/stream`` (server-sent events) and the incident
board ``/api/board``. Documented for scripts in docs/api.md."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from app.api.auth import Viewer
from app.api.errors import ApiError, FieldError, error_responses
from app.dashboard import Dashboard, not_found
from app.dashboard.board import board_rows
from app.dashboard.series import Grid
from handlers.config import ResponseConfig
from handlers.incidents.incident import Incident
from schemas.panes import Dimension

__all__ = ["LIVE_OVERLAP_MS", "STATIC", "DashboardDeps", "IncidentBoard", "router"]

STATIC = Path(__file__).resolve().parent / "static"
# Each live message re-sends this much before the previous one's end: panes close up to the
# allowed lateness after they end, and a pane re-published with a higher revision comes later.
LIVE_OVERLAP_MS = 30_000
_MAX_BUCKETS = 20_000

router = APIRouter(tags=["dashboard"])


class IncidentBoard(Protocol):
    async def incidents(self, resolved: int) -> list[Incident]:
        """Every incident not resolved, and the ``resolved`` latest resolved ones."""
        ...


@dataclass(frozen=True)
class DashboardDeps:
    """What the dashboard's routes need; the composition root builds it for the api role."""

    dashboard: Dashboard
    board: IncidentBoard
    response: ResponseConfig


class ScopeOut(BaseModel):
    service: str
    dimension: Dimension
    key: str


class ScopeSeriesOut(BaseModel):
    scope: ScopeOut
    series: dict[str, list[float | str | None]] = Field(
        description="one value per time of `t`; null: no pane in that bucket"
    )
    thresholds: list[dict[str, Any]] = Field(
        description="the policy's rules on this scope: series, rule, severity, comparison, value"
    )
    firing: list[dict[str, Any]] = Field(
        description="when its alerts fired: rule, metric, severity, from_ms, to_ms (null: still)"
    )


class SeriesOut(BaseModel):
    service: str
    from_ms: int
    to_ms: int
    step_ms: int
    t: list[float] = Field(description="bucket starts, epoch seconds")
    scopes: list[ScopeSeriesOut]
    deploys: list[dict[str, Any]] = Field(description="the service's deploys: ts, version, status")


def _deps(request: Request) -> DashboardDeps:
    deps: DashboardDeps | None = getattr(request.app.state, "dashboard", None)
    if deps is None:
        raise ApiError(404, "the dashboard runs in the process with the api role")
    return deps


def _json(payload: Any) -> Response:
    # orjson writes NaN as null: a bucket with no pane is a gap in the graph.
    return Response(orjson.dumps(payload), media_type="application/json")


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


_READ = error_responses(401, 403, 404, 422, 429)


@router.get("/api/scopes", responses=_READ)
async def scopes(request: Request, viewer: Viewer) -> dict[str, Any]:
    """Every scope with panes in the dashboard's memory, by service, and its pane width,
    retention and live cadence."""
    return _deps(request).dashboard.scopes()


Service = Annotated[str, Query(min_length=1, max_length=200, description="the service")]
Dim = Annotated[
    Dimension | None,
    Query(description="endpoint, host, queue, bot, check or service; none: the overview"),
]
Key = Annotated[
    str | None, Query(max_length=1000, description='e.g. "POST /api/message"; none: all')
]
Minutes = Annotated[
    float | None,
    Query(gt=0, description="how far back from `until_ms` (default 15, up to the retention)"),
]
DEFAULT_MINUTES = 15.0
Until = Annotated[int | None, Query(ge=0, description="end, epoch ms (default: now)")]
Step = Annotated[int | None, Query(ge=1, description="bucket width in ms (default: one pane)")]


def _invalid(field: str, message: str) -> ApiError:
    found = [FieldError(field=field, message=message)]
    return ApiError(422, f"invalid request: {field}: {message}", fields=found)


def _minutes(dashboard: Dashboard, minutes: float | None) -> float:
    return minutes or min(DEFAULT_MINUTES, dashboard.retention_s / 60)


def _grid(
    dashboard: Dashboard, minutes: float | None, until_ms: int | None, step_ms: int | None
) -> Grid:
    minutes = _minutes(dashboard, minutes)
    if minutes * 60 > dashboard.retention_s:
        raise _invalid("query.minutes", f"at most {dashboard.retention_s / 60:g} (the retention)")
    step = step_ms or dashboard.pane_ms
    if step % dashboard.pane_ms:
        raise _invalid("query.step_ms", f"a multiple of the pane width, {dashboard.pane_ms} ms")
    grid = Grid.ending(until_ms or dashboard.now_ms(), int(minutes * 60_000), step)
    if grid.size > _MAX_BUCKETS:
        message = f"{grid.size} buckets asked for, at most {_MAX_BUCKETS}: take a longer step"
        raise _invalid("query.step_ms", message)
    return grid


def _series(
    dashboard: Dashboard, service: str, dimension: Dimension | None, key: str | None, grid: Grid
) -> dict[str, Any]:
    found = dashboard.series(service, dimension, key, grid)
    if found is None:
        raise ApiError(404, not_found(service, dimension, key))
    return found


@router.get("/api/series", response_model=SeriesOut, responses=_READ)
async def series(
    request: Request,
    viewer: Viewer,
    service: Service,
    dimension: Dim = None,
    key: Key = None,
    minutes: Minutes = None,
    until_ms: Until = None,
    step_ms: Step = None,
) -> Response:
    """A service's graphs on one time grid: every core scope of it (the overview), or the
    scopes of one dimension, or one scope; with the policy's thresholds, firing intervals and
    deploys."""
    dashboard = _deps(request).dashboard
    grid = _grid(dashboard, minutes, until_ms, step_ms)
    return _json(_series(dashboard, service, dimension, key, grid))


Query3 = tuple[str, Dimension | None, str | None]  # service, dimension, key


async def _live(
    request: Request, dashboard: Dashboard, query: Query3, span_ms: int
) -> AsyncIterator[bytes]:
    """The whole window first, then every ``live_every_s`` what changed: the buckets from
    ``LIVE_OVERLAP_MS`` before the previous message's end."""
    step, last_to = dashboard.pane_ms, None
    while not dashboard.closing.is_set() and not await request.is_disconnected():
        window = grid = Grid.ending(dashboard.now_ms(), span_ms, step)
        if last_to is not None:
            grid = Grid(max(grid.from_ms, last_to - LIVE_OVERLAP_MS), grid.to_ms, step)
        payload = dashboard.series(*query, grid, window) or {
            "error": "not_found",
            "message": not_found(*query),
        }
        yield b"event: series\ndata: " + orjson.dumps(payload) + b"\n\n"
        last_to = grid.to_ms
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(dashboard.closing.wait(), dashboard.live_every_s)


@router.get("/api/stream", response_class=StreamingResponse, responses=_READ)
async def stream(
    request: Request,
    viewer: Viewer,
    service: Service,
    dimension: Dim = None,
    key: Key = None,
    minutes: Minutes = None,
) -> StreamingResponse:
    """Server-sent events: ``event: series`` messages shaped as ``/api/series`` answers — the
    last ``minutes`` first, then each ``live_every_s`` the buckets that changed (from 30 s
    before the previous message's end; replace those, append the new). A scope with no pane
    yet is not an error here: the message is ``{"error": "not_found", "message": …}`` until
    its first pane arrives."""
    dashboard = _deps(request).dashboard
    _grid(dashboard, minutes, None, None)  # the same checks as /api/series
    span_ms = int(_minutes(dashboard, minutes) * 60_000)
    events = _live(request, dashboard, (service, dimension, key), span_ms)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


@router.get("/api/board", responses=_READ)
async def board(
    request: Request,
    viewer: Viewer,
    resolved: Annotated[int, Query(ge=0, le=500, description="resolved incidents shown")] = 20,
) -> list[dict[str, Any]]:
    """Incidents not resolved first (most severe, then newest), then the latest resolved; each
    with its age and the escalation ladder's next step (``next_step``: step, to, at, in_s)."""
    deps = _deps(request)
    found = await deps.board.incidents(resolved)
    return board_rows(found, deps.dashboard.clock.now(), deps.response)
