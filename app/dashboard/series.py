"""Graphs' numbers: a scope's ring rows reduced onto a time grid (``GET /api/series``).

One bucket per ``step_ms`` from ``from_ms`` (both multiples of the step) takes the panes that
start inside it. With a step longer than a pane, counts add up (so error rate and requests/s
stay exact) and percentiles, CPU, memory and the highest queue depth take the worst pane (an
upper bound of the bucket's own percentile: the ring keeps no sketches); a bucket with no
pane is ``None`` (a gap), never 0. Queue growth is the least-squares slope as the
queue_growth rule judges it; a bot's status holds for ``hold_ms`` (stage 2's
``idle_after_ms``) after a report, and bots are counted as the rules count them (a crashed
bot is both offline and erroring). The series: docs/api.md, "Dashboard".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.dashboard.ring import BOT_STATUSES, FIELDS, ScopeRing, Window
from schemas.panes import Dimension
from streams.policy import BotPolicy

__all__ = ["DECIMALS", "Grid", "bot_counts", "forward_fill", "rolling_slope", "scope_series"]

Floats = npt.NDArray[np.float64]
How = Literal["sum", "max", "last"]

# How each kept field reduces into a bucket.
_HOW: dict[str, How] = {
    "requests": "sum",
    "errors": "sum",
    "p50_ms": "max",
    "p95_ms": "max",
    "p99_ms": "max",
    "cpu": "max",
    "mem": "max",
    "depth": "last",
    "depth_max": "max",
    "status": "last",
    "checks": "sum",
    "failures": "sum",
    "logs": "sum",
    "log_errors": "sum",
}
# Decimals each series is rounded to on the wire.
DECIMALS: dict[str, int] = {"error_rate": 5, "rps": 2, "growth": 3}
_DEFAULT_DECIMALS = 2


@dataclass(frozen=True)
class Grid:
    """Buckets [from_ms + i·step_ms, from_ms + (i+1)·step_ms) for i < size."""

    from_ms: int
    to_ms: int
    step_ms: int

    @staticmethod
    def ending(to_ms: int, span_ms: int, step_ms: int) -> Grid:
        end = -(-to_ms // step_ms) * step_ms  # rounded up to the step
        return Grid(end - max(step_ms, span_ms // step_ms * step_ms), end, step_ms)

    @property
    def size(self) -> int:
        return (self.to_ms - self.from_ms) // self.step_ms

    def times_s(self) -> list[int] | list[float]:
        starts = self.from_ms + np.arange(self.size, dtype=np.int64) * self.step_ms
        if self.from_ms % 1000 == 0 and self.step_ms % 1000 == 0:
            seconds: list[int] = (starts // 1000).tolist()  # ints: shorter, quicker to write
            return seconds
        fractions: list[float] = (starts / 1000).tolist()
        return fractions

    def earlier(self, span_ms: int) -> Grid:
        """This grid extended ``span_ms`` (whole steps) back in time."""
        extra = -(-span_ms // self.step_ms) * self.step_ms
        return Grid(self.from_ms - extra, self.to_ms, self.step_ms)

    def bucket(self, start_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return (start_ms - self.from_ms) // self.step_ms


def _reduce(index: npt.NDArray[np.int64], values: Any, size: int, how: How) -> Floats:
    """``values`` (rows sorted by bucket ``index``) reduced per bucket; NaN where none."""
    out = np.full(size, np.nan)
    valid = ~np.isnan(values)
    index, x = index[valid], values[valid].astype(np.float64)
    if not index.size:
        return out
    starts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    buckets = index[starts]
    if how == "sum":
        out[buckets] = np.add.reduceat(x, starts)
    elif how == "max":
        out[buckets] = np.maximum.reduceat(x, starts)
    else:
        out[buckets] = x[np.r_[starts[1:], x.size] - 1]
    return out


def _columns(window: Window, grid: Grid, dimension: Dimension) -> dict[str, Floats]:
    index = grid.bucket(window.start_ms)
    return {
        name: _reduce(index, window.values[:, n], grid.size, _HOW[name])
        for n, name in enumerate(FIELDS[dimension])
    }


def rolling_slope(times_s: Floats, values: Floats, span: int) -> Floats:
    """Least-squares slope of the valid points among the last ``span`` buckets, per bucket
    (NaN with fewer than two points or no spread in time)."""
    valid = ~np.isnan(values)
    t = np.where(valid, times_s - times_s[0], 0.0)
    v = np.where(valid, values, 0.0)

    def window_sums(x: Floats) -> Floats:
        total = np.concatenate([[0.0], np.cumsum(x)])
        lower = np.maximum(np.arange(1, x.size + 1) - span, 0)
        return np.asarray(total[1:] - total[lower], dtype=np.float64)

    n = window_sums(valid.astype(np.float64))
    st, sv, stt, stv = (window_sums(x) for x in (t, v, t * t, t * v))
    spread = n * stt - st * st
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (n * stv - st * sv) / spread
    return np.where((n >= 2) & (spread > 1e-9), slope, np.nan)


def forward_fill(values: Floats, limit: int) -> Floats:
    """Each NaN takes the last value before it, if that is at most ``limit`` buckets back."""
    at = np.arange(values.size)
    last = np.maximum.accumulate(np.where(np.isnan(values), -1, at))
    filled = values[np.maximum(last, 0)]
    return np.where((last >= 0) & (at - last <= limit), filled, np.nan)


def _statuses(ring: ScopeRing, grid: Grid, hold_ms: int) -> Floats:
    """A bot's status code per bucket, held ``hold_ms`` after each report."""
    wider = grid.earlier(hold_ms)
    codes = _columns(ring.window(wider.from_ms, wider.to_ms), wider, "bot")["status"]
    held = forward_fill(codes, hold_ms // grid.step_ms)
    return held[wider.size - grid.size :]


def _endpoint(cols: dict[str, Floats], grid: Grid) -> dict[str, Floats]:
    requests = cols["requests"]
    with np.errstate(divide="ignore", invalid="ignore"):
        error_rate = np.where(requests > 0, cols["errors"] / requests, np.nan)
    return {
        **cols,
        "error_rate": error_rate,
        "rps": requests / (grid.step_ms / 1000),
    }


def _queue(ring: ScopeRing, grid: Grid, growth_window_ms: int) -> dict[str, Floats]:
    """Depth, its maximum and its growth; the growth needs the window before the grid."""
    wider = grid.earlier(growth_window_ms)
    cols = _columns(ring.window(wider.from_ms, wider.to_ms), wider, "queue")
    span = max(1, growth_window_ms // grid.step_ms)
    times = np.asarray(wider.times_s(), dtype=np.float64)
    growth = rolling_slope(times, cols["depth"], span)
    cut = wider.size - grid.size
    return {**{k: v[cut:] for k, v in cols.items()}, "growth": growth[cut:]}


def _wire(series: dict[str, Floats]) -> dict[str, list[Any]]:
    """Rounded lists; NaN becomes ``None`` (JSON null) here or in the encoder."""
    return {
        name: np.round(values, DECIMALS.get(name, _DEFAULT_DECIMALS)).tolist()
        for name, values in series.items()
    }


def _status_names(codes: Floats) -> list[str | None]:
    return [None if np.isnan(c) else BOT_STATUSES[int(c)] for c in codes]


def scope_series(
    ring: ScopeRing, grid: Grid, growth_window_ms: int, hold_ms: int
) -> dict[str, list[Any]]:
    """Every series of one scope on ``grid``."""
    dimension = ring.scope.dimension
    if dimension == "queue":
        return _wire(_queue(ring, grid, growth_window_ms))
    if dimension == "bot":
        return {"status": _status_names(_statuses(ring, grid, hold_ms))}
    cols = _columns(ring.window(grid.from_ms, grid.to_ms), grid, dimension)
    if dimension == "endpoint":
        return _wire(_endpoint(cols, grid))
    return _wire(cols)


def bot_counts(
    rings: Sequence[ScopeRing], grid: Grid, bots: BotPolicy, hold_ms: int
) -> dict[str, list[Any]]:
    """Bots of one service per bucket: online, with errors, offline (None: none known)."""
    classes: dict[str, Callable[[str], bool]] = {
        "bots_online": lambda s: s not in bots.offline and s not in bots.errors,
        "bots_errors": lambda s: s in bots.errors,
        "bots_offline": lambda s: s in bots.offline,
    }
    counts = {name: np.zeros(grid.size) for name in classes}
    reported = np.zeros(grid.size, dtype=bool)
    for ring in rings:
        status = _statuses(ring, grid, hold_ms)
        known = ~np.isnan(status)
        reported |= known
        for name, member in classes.items():
            codes = [n for n, s in enumerate(BOT_STATUSES) if member(s)]
            counts[name] += known & np.isin(status, codes)
    return _wire({name: np.where(reported, c, np.nan) for name, c in counts.items()})
