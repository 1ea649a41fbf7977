"""The dashboard's memory: the newest panes of every scope, as numbers, in bounded rings.

A pane is reduced to a few numbers as it arrives (``FIELDS``) and kept in its scope's
``ScopeRing``: numpy columns grown by doubling up to ``capacity`` rows; a full ring gives up
its oldest pane by start. ``PaneRing`` holds at most ``max_scopes`` rings, evicting the scope
whose latest pane is the oldest, so memory is bounded by ``max_scopes × capacity × row
bytes``. A pane's identity within its scope is (start, partition), so a pane re-published
with a higher ``revision`` replaces its row, never adds one. Why a ring in the ``api`` role,
and the measured bound: docs/design.md record 24 and docs/dashboard.md, "Where the numbers
come from".
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import get_args

import numpy as np
import numpy.typing as npt
from pydantic import Field

from schemas.panes import DeployRecord, Dimension, LatencySketch, PaneSummary, RequestStats, Scope
from schemas.sketch import Mapping, quantile_rank
from schemas.telemetry import BotEvent

__all__ = [
    "BOT_STATUSES",
    "FIELDS",
    "PaneRing",
    "RevisedPane",
    "ScopeRing",
    "Window",
    "pane_row",
    "sketch_quantiles",
]

# The numbers kept of each pane, per scope dimension (NaN: the pane had no such reading).
FIELDS: dict[Dimension, tuple[str, ...]] = {
    "endpoint": ("requests", "errors", "p50_ms", "p95_ms", "p99_ms"),
    "host": ("cpu", "mem"),
    "queue": ("depth", "depth_max"),
    "bot": ("status",),  # index into BOT_STATUSES
    "check": ("checks", "failures"),
    "dataset": ("backups", "backup_failures"),
    "service": ("logs", "log_errors"),
}
BOT_STATUSES: tuple[str, ...] = get_args(BotEvent.model_fields["status"].annotation)
_STATUS_INDEX = {status: float(n) for n, status in enumerate(BOT_STATUSES)}
_NAN = float("nan")
_FIRST_ROWS = 64
DEPLOYS_KEPT = 50  # per service: the graphs mark deploys inside the retention, rarely more


_QUANTILES = (0.50, 0.95, 0.99)


@lru_cache(maxsize=8)
def _mapping(alpha: float, min_value: float) -> Mapping:
    return Mapping(alpha, min_value)


def sketch_quantiles(sketch: LatencySketch, qs: Sequence[float]) -> list[float]:
    """The ``qs`` (ascending) of one wire sketch, as ``MergedSketch.quantile`` reads them, in
    one walk of its run-length counts (a pane arrives every second per scope: this is ~8 times
    cheaper than building a MergedSketch for one sketch)."""
    total = sketch.zeros + sum(c for c in sketch.counts if c > 0)
    ranks = [quantile_rank(q, total) for q in qs]
    found = [0.0 for rank in ranks if rank < sketch.zeros]
    pending = ranks[len(found) :]
    mapping, seen, index = _mapping(sketch.alpha, sketch.min_value), sketch.zeros, sketch.offset
    for count in sketch.counts:
        if count < 0:
            index -= count
            continue
        seen += count
        while pending and pending[0] < seen:
            found.append(mapping.value(index))
            pending.pop(0)
        index += 1
    return found


def _percentiles(stats: RequestStats) -> tuple[float, ...]:
    if not stats.count:
        return _NAN, _NAN, _NAN
    found = sketch_quantiles(stats.latency, _QUANTILES)
    if len(found) < len(_QUANTILES):  # an empty sketch for a count > 0: not from stage 1
        return _NAN, _NAN, _NAN
    return tuple(min(max(value, stats.min_ms), stats.max_ms) for value in found)


def _or_nan(value: float | None) -> float:
    return _NAN if value is None else float(value)


def pane_row(pane: PaneSummary) -> tuple[float, ...]:
    """The numbers ``FIELDS`` keeps of ``pane``, for its scope's dimension."""
    dimension = pane.scope.dimension
    if dimension == "endpoint":
        r = pane.requests
        return (float(r.count), float(r.errors), *_percentiles(r)) if r else (_NAN,) * 5
    if dimension == "host":
        res = pane.resource
        return (_or_nan(res.cpu_max), _or_nan(res.mem_max)) if res else (_NAN, _NAN)
    if dimension == "queue":
        q = pane.queue
        return (float(q.depth_last), float(q.depth_max)) if q else (_NAN, _NAN)
    if dimension == "bot":
        return (_STATUS_INDEX.get(pane.bot.last_status, _NAN) if pane.bot else _NAN,)
    if dimension == "check":
        i = pane.integrity
        return (float(i.checks), float(i.failures)) if i else (_NAN, _NAN)
    if dimension == "dataset":
        failed = sum(b.status == "failed" for b in pane.backups)
        return (float(len(pane.backups)), float(failed))
    logs = pane.logs
    return (float(logs.total), float(logs.errors)) if logs else (_NAN, _NAN)


class RevisedPane(PaneSummary):
    """A pane as read from the topic, with its ``revision``: stage 1 re-publishes a pane (same
    ``pane_id``) with a higher revision when late events change it. Read here so the ring
    replaces by revision whether or not ``PaneSummary`` itself declares the field yet."""

    revision: int = Field(default=0, ge=0)


@dataclass(frozen=True)
class Window:
    """The rows of one scope that start inside a time range, oldest first."""

    start_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]  # one column per FIELDS entry

    def column(self, name: str, dimension: Dimension) -> npt.NDArray[np.float32]:
        return self.values[:, FIELDS[dimension].index(name)]


class ScopeRing:
    """At most ``capacity`` panes of one scope, the newest (by pane start) kept.

    Panes may arrive out of order (the refill reads the recent past before the older part), so
    a full ring gives up its oldest pane, never its latest arrival."""

    def __init__(self, scope: Scope, capacity: int) -> None:
        self.scope = scope
        self.capacity = capacity
        self.width = len(FIELDS[scope.dimension])
        rows = min(capacity, _FIRST_ROWS)
        self.start_ms = np.zeros(rows, np.int64)
        self.partition = np.zeros(rows, np.int32)
        self.revision = np.zeros(rows, np.int32)
        self.values = np.full((rows, self.width), np.nan, np.float32)
        self.size = 0  # rows in use
        self.newest_ms = -1  # the latest pane start seen

    @property
    def row_bytes(self) -> int:
        return 8 + 4 + 4 + 4 * self.width

    @property
    def nbytes(self) -> int:
        return int(
            self.start_ms.nbytes + self.partition.nbytes + self.revision.nbytes + self.values.nbytes
        )

    def put(self, start_ms: int, partition: int, revision: int, row: tuple[float, ...]) -> bool:
        """Keep a pane; False when an equal or newer revision of it is already here."""
        if start_ms <= self.newest_ms:
            same = np.flatnonzero(
                (self.start_ms[: self.size] == start_ms)
                & (self.partition[: self.size] == partition)
            )
            if same.size:
                return self._replace(int(same[-1]), revision, row)
        self._append(start_ms, partition, revision, row)
        return True

    def _replace(self, at: int, revision: int, row: tuple[float, ...]) -> bool:
        if revision <= self.revision[at]:
            return False
        self.revision[at] = revision
        self.values[at] = row
        return True

    def _append(self, start_ms: int, partition: int, revision: int, row: tuple[float, ...]) -> None:
        if self.size < self.capacity:
            if self.size == len(self.start_ms):
                self._grow(min(self.capacity, 2 * self.size))
            at = self.size
            self.size += 1
        else:  # full: the oldest pane goes, unless this one is older still
            at = int(np.argmin(self.start_ms))
            if start_ms < self.start_ms[at]:
                return
        self.start_ms[at], self.partition[at], self.revision[at] = start_ms, partition, revision
        self.values[at] = row
        self.newest_ms = max(self.newest_ms, start_ms)

    def _grow(self, rows: int) -> None:
        # Only while not full: rows [0, size) are in use, the new ones go after them.
        extra = rows - len(self.start_ms)
        self.start_ms = np.concatenate([self.start_ms, np.zeros(extra, np.int64)])
        self.partition = np.concatenate([self.partition, np.zeros(extra, np.int32)])
        self.revision = np.concatenate([self.revision, np.zeros(extra, np.int32)])
        filler = np.full((extra, self.width), np.nan, np.float32)
        self.values = np.concatenate([self.values, filler])

    def window(self, from_ms: int, to_ms: int) -> Window:
        """Rows whose pane starts in [from_ms, to_ms), sorted by start."""
        starts = self.start_ms[: self.size]
        inside = np.flatnonzero((starts >= from_ms) & (starts < to_ms))
        order = inside[np.argsort(starts[inside], kind="stable")]
        return Window(starts[order], self.values[: self.size][order])


class PaneRing:
    """Every scope's ``ScopeRing`` and every service's recent deploys."""

    def __init__(self, capacity: int, max_scopes: int) -> None:
        self.capacity = capacity
        self.max_scopes = max_scopes
        self._scopes: OrderedDict[str, ScopeRing] = OrderedDict()  # least recently fed first
        self._deploys: dict[str, deque[DeployRecord]] = {}
        self.panes = 0  # panes kept (a replaced revision counts)
        self.stale = 0  # panes ignored: an equal or newer revision was already kept
        self.evicted = 0  # scopes dropped for max_scopes

    def put(self, pane: PaneSummary) -> None:
        scope = self._scope(pane.scope)
        revision = int(getattr(pane, "revision", 0))  # panes before revisions: 0
        kept = scope.put(pane.start_ms, pane.partition or 0, revision, pane_row(pane))
        self.panes += kept
        self.stale += not kept
        for deploy in pane.deploys:
            self._deploy(pane.scope.service, deploy)

    def _scope(self, scope: Scope) -> ScopeRing:
        ring = self._scopes.get(scope.id)
        if ring is None:
            if len(self._scopes) >= self.max_scopes:
                self._scopes.popitem(last=False)
                self.evicted += 1
            ring = self._scopes[scope.id] = ScopeRing(scope, self.capacity)
        else:
            self._scopes.move_to_end(scope.id)
        return ring

    def _deploy(self, service: str, deploy: DeployRecord) -> None:
        kept = self._deploys.setdefault(service, deque(maxlen=DEPLOYS_KEPT))
        if deploy not in kept:
            kept.append(deploy)

    def get(self, scope: Scope) -> ScopeRing | None:
        return self._scopes.get(scope.id)

    def __iter__(self) -> Iterator[ScopeRing]:
        return iter(list(self._scopes.values()))

    def __len__(self) -> int:
        return len(self._scopes)

    def deploys(self, service: str) -> list[DeployRecord]:
        return sorted(self._deploys.get(service, ()), key=lambda d: d.ts)

    @property
    def nbytes(self) -> int:
        """Bytes of every ring's arrays (what the bound is about)."""
        return sum(ring.nbytes for ring in self._scopes.values())

    def bound_bytes(self) -> int:
        """The most the arrays can take: ``max_scopes`` endpoint rings, each full."""
        widest = 8 + 4 + 4 + 4 * max(len(f) for f in FIELDS.values())
        return self.max_scopes * self.capacity * widest
