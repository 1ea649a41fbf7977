"""Pane buffers: the recent panes of one scope, deduplicated by ``pane_id``; a later revision
of a pane (stage 1's refinement for late events) replaces the one held, never adds to it."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from schemas.panes import PaneSummary, Scope
from schemas.window import WindowStats, merge_panes

__all__ = ["PaneBuffer"]


class PaneBuffer:
    """Panes of one scope in start order; windows are merged from them on demand."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._starts: list[int] = []
        self._panes: dict[int, PaneSummary] = {}
        self._ids: set[str] = set()
        self.first_start_ms: int | None = None
        self.last_end_ms: int = 0
        self.evaluated_ms: int = 0  # event time of the latest evaluation of this scope

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, pane: PaneSummary) -> bool:
        """Keep ``pane``; False when it was seen already (a re-sent pane)."""
        if pane.pane_id in self._ids or pane.start_ms in self._panes:
            return False
        self._ids.add(pane.pane_id)
        self._panes[pane.start_ms] = pane
        bisect.insort(self._starts, pane.start_ms)
        if self.first_start_ms is None or pane.start_ms < self.first_start_ms:
            self.first_start_ms = pane.start_ms
        self.last_end_ms = max(self.last_end_ms, pane.end_ms)
        return True

    def refine(self, pane: PaneSummary) -> PaneSummary | None:
        """Replace the held pane of the same ``pane_id`` by this later revision; the revision
        replaced, or None when none older is held (a re-sent or an older revision)."""
        held = self._panes.get(pane.start_ms)
        if held is None or held.pane_id != pane.pane_id or pane.revision <= held.revision:
            return None
        self._panes[pane.start_ms] = pane
        return held

    def between(self, start_ms: int, end_ms: int) -> Iterator[PaneSummary]:
        """Panes that lie inside [start_ms, end_ms)."""
        low = bisect.bisect_left(self._starts, start_ms)
        for start in self._starts[low:]:
            pane = self._panes[start]
            if pane.start_ms >= end_ms:
                break
            if pane.end_ms <= end_ms:
                yield pane

    def window(self, end_ms: int, length_ms: int) -> WindowStats:
        start = end_ms - length_ms
        return merge_panes(self.scope, self.between(start, end_ms), start, end_ms)

    def request_counts(self, end_ms: int, length_ms: int) -> tuple[int, int]:
        """(requests, 5xx errors) of the window [end - length, end): counts only, no sketch
        merge (what a service-wide rate over all endpoints needs)."""
        requests = errors = 0
        for pane in self.between(end_ms - length_ms, end_ms):
            if pane.requests is not None:
                requests += pane.requests.count
                errors += pane.requests.errors
        return requests, errors

    def covered_s(self, end_ms: int, length_ms: int) -> float:
        """Seconds of the window [end - length, end) since this scope was first seen."""
        if self.first_start_ms is None:
            return 0.0
        start = max(end_ms - length_ms, self.first_start_ms)
        return max(0, end_ms - start) / 1000.0

    def evict(self, before_ms: int) -> list[PaneSummary]:
        """Forget panes that end at or before ``before_ms``; returns them (to roll up)."""
        cut = 0
        evicted = []
        while cut < len(self._starts) and self._panes[self._starts[cut]].end_ms <= before_ms:
            pane = self._panes.pop(self._starts[cut])
            self._ids.discard(pane.pane_id)
            evicted.append(pane)
            cut += 1
        del self._starts[:cut]
        return evicted
