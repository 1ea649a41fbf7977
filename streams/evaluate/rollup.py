"""Roll-ups: request and 5xx counts of one scope over hours and days, in bounded state.

SLO windows (1 h, 6 h, 3 days) and error budgets (30 days) cannot hold 1 s panes: 3 days of
them are 259,200 per scope. A ``RollUp`` keeps counts in rings of minutes, hours and days, a
bucket falling out of a finer ring added to the coarser one (docs/detection-quality.md, "SLOs
and multi-window burn-rate alerts"). A pane is folded in only when it leaves the evaluator's
pane buffer, long after the allowed lateness, so it can no longer change (a refinement
replaces it in the buffer first). ``rolled_until_ms`` is where the roll-up ends and the buffer
takes over, so panes re-read after a restart are not counted twice. A bucket a window starts
inside counts pro rata, so a 3-day window is exact to its last hour.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

__all__ = ["LEVELS", "Level", "RollUp"]

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
LEVELS = ((MINUTE_MS, 120), (HOUR_MS, 73), (DAY_MS, 31))  # (bucket size, buckets kept)


class Level:
    """A ring of ``slots`` buckets of ``size_ms``; ``head_ms`` starts the newest one."""

    __slots__ = ("errors", "head_ms", "requests", "size_ms", "slots")

    def __init__(self, size_ms: int, slots: int) -> None:
        self.size_ms, self.slots = size_ms, slots
        self.head_ms: int | None = None
        self.requests = array("q", bytes(8 * slots))
        self.errors = array("q", bytes(8 * slots))

    @property
    def oldest_ms(self) -> int | None:
        return None if self.head_ms is None else self.head_ms - (self.slots - 1) * self.size_ms

    def add(self, start_ms: int, requests: int, errors: int) -> list[tuple[int, int, int]]:
        """Count into the bucket of ``start_ms``; returns the buckets that fell out (and a
        start too old for this ring), for the next ring."""
        bucket = start_ms // self.size_ms * self.size_ms
        out = self._advance(bucket)
        oldest = self.oldest_ms
        if oldest is not None and bucket < oldest:
            return [*out, (bucket, requests, errors)]
        slot = bucket // self.size_ms % self.slots
        self.requests[slot] += requests
        self.errors[slot] += errors
        return out

    def _advance(self, bucket: int) -> list[tuple[int, int, int]]:
        if self.head_ms is not None and bucket <= self.head_ms:
            return []
        out: list[tuple[int, int, int]] = []
        oldest, head = self.oldest_ms, self.head_ms
        if oldest is not None and head is not None:  # the old ring's buckets now out of it
            keep_from = bucket - (self.slots - 1) * self.size_ms
            for old in range(oldest, min(keep_from, head + self.size_ms), self.size_ms):
                slot = old // self.size_ms % self.slots
                if self.requests[slot] or self.errors[slot]:
                    out.append((old, self.requests[slot], self.errors[slot]))
                self.requests[slot] = self.errors[slot] = 0
        self.head_ms = bucket
        return out

    def buckets(self) -> list[tuple[int, int, int]]:
        """(start, requests, errors) of each bucket with counts, oldest first."""
        oldest = self.oldest_ms
        if oldest is None:
            return []
        found = []
        for start in range(oldest, oldest + self.slots * self.size_ms, self.size_ms):
            slot = start // self.size_ms % self.slots
            if self.requests[slot] or self.errors[slot]:
                found.append((start, self.requests[slot], self.errors[slot]))
        return found


@dataclass(frozen=True)
class Counts:
    requests: float = 0.0
    errors: float = 0.0


class RollUp:
    """Minutes → hours → days of one scope's request counts (see the module)."""

    __slots__ = ("levels", "rolled_until_ms")

    def __init__(self, levels: tuple[tuple[int, int], ...] = LEVELS) -> None:
        self.levels = [Level(size, slots) for size, slots in levels]
        self.rolled_until_ms = 0

    def add(self, start_ms: int, requests: int, errors: int) -> None:
        """Fold in one pane (or any span starting at ``start_ms``) that can no longer change."""
        carry = [(start_ms, requests, errors)]
        for level in self.levels:
            spilled: list[tuple[int, int, int]] = []
            for start, n, e in carry:
                spilled.extend(level.add(start, n, e))
            carry = spilled
            if not carry:
                return
        # older than the coarsest ring keeps: beyond every window and period, forgotten

    @property
    def first_ms(self) -> int | None:
        """Where its oldest counts begin (None while it holds none)."""
        starts = [buckets[0][0] for buckets in (lv.buckets() for lv in self.levels) if buckets]
        return min(starts, default=None)

    def counts(self, start_ms: int, end_ms: int) -> Counts:
        """Requests and errors in [start_ms, end_ms), up to ``rolled_until_ms``."""
        requests = errors = 0.0
        covered_to = self.rolled_until_ms  # finer rings hold what is after their oldest bucket
        for level in self.levels:
            for bucket, n, e in level.buckets():
                span_end = min(bucket + level.size_ms, covered_to)
                overlap = min(span_end, end_ms) - max(bucket, start_ms)
                if overlap <= 0 or span_end <= bucket:
                    continue
                share = overlap / (span_end - bucket)
                requests += n * share
                errors += e * share
            oldest = level.oldest_ms
            if oldest is not None:
                covered_to = min(covered_to, oldest)
        return Counts(requests, errors)

    def encode(self) -> dict[str, Any]:
        return {
            "rolled_until_ms": self.rolled_until_ms,
            "levels": [
                {"size_ms": lv.size_ms, "head_ms": lv.head_ms, "buckets": lv.buckets()}
                for lv in self.levels
            ],
        }

    @classmethod
    def decode(cls, value: dict[str, Any], levels: tuple[tuple[int, int], ...] = LEVELS) -> RollUp:
        found = cls(levels)
        found.rolled_until_ms = int(value.get("rolled_until_ms", 0))
        for level, raw in zip(found.levels, value.get("levels", []), strict=False):
            if raw.get("head_ms") is not None:
                level.head_ms = int(raw["head_ms"])
            for start, n, e in raw.get("buckets", []):
                if level.oldest_ms is not None and start >= level.oldest_ms:
                    slot = int(start) // level.size_ms % level.slots
                    level.requests[slot], level.errors[slot] = int(n), int(e)
        return found
